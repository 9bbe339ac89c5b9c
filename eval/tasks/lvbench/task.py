"""LVBench (arXiv 2406.08035): 103 videos of about an hour, 1549 questions, from the release.

Folder (GitHub ``THUDM/LVBench`` annotations + its video download script)::

    ROOT/video_info.meta.jsonl   ROOT/videos/<key>.mp4

Each line: ``{"key", "type", "video_info": {"duration_minutes", ...}, "qa": [{"uid",
"question" (options embedded as "(A) ..." lines), "answer" (a letter), "question_type" (list of
ER/EU/KIR/TG/Rea/Sum names), "time_reference"}]}``. Accuracy overall and per question type (a
question counts in each of its types); ``bucket`` is the video's ``type``. Prompt and parsing
follow Video-MME's (assumed: LVBench's own scripts are per model).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.choices import PROMPT, extract_letter
from vlmctx_eval.tasks.common.release import OfficialMCQ, require_dir

_OPTION = re.compile(r"^\(([A-D])\)\s*(.*)$")


def split_question(text: str) -> tuple[str, list[str]]:
    """LVBench's question text -> (stem, option texts) from its ``(A) ...`` lines."""
    stem, options = [], []
    for line in text.strip().splitlines():
        m = _OPTION.match(line.strip())
        if m:
            if m.group(1) != "ABCD"[len(options)]:
                raise DataFormatError(f"option ({m.group(1)}) out of order")
            options.append(m.group(2).strip())
        elif not options:
            stem.append(line)
    if len(options) < 2:
        raise DataFormatError("question holds fewer than two '(A) ...' option lines")
    return "\n".join(stem).strip(), options


@TASKS.register("lvbench", summary="LVBench (hour-long videos; accuracy per question type)")
class LVBench(OfficialMCQ):
    name: ClassVar[str]  # set by TASKS.register
    version = "1"

    def __init__(self, root: str, file: str = "video_info.meta.jsonl") -> None:
        self.root = require_dir(root, "lvbench", "give --task-arg lvbench:root=/data/LVBench")
        self.file = os.path.join(self.root, file)
        if not os.path.isfile(self.file):
            raise ConfigError(f"lvbench: {self.file!r} not found (the annotation file)")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "file": self.file}

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        with open(self.file, encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip()]
        for n, line in enumerate(lines, 1):
            try:
                video = json.loads(line)
                qas = video["qa"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                yield f"{os.path.basename(self.file)}:{n}", DataFormatError(f"bad line: {exc}")
                continue
            for qa in qas:
                try:
                    yield f"{os.path.basename(self.file)}:{n}", self._sample(video, qa)
                except (DataFormatError, KeyError, TypeError) as exc:
                    yield f"{os.path.basename(self.file)}:{n}", DataFormatError(f"bad qa: {exc}")

    def _sample(self, video: dict[str, Any], qa: dict[str, Any]) -> Sample:
        stem, options = split_question(qa["question"])
        answer = str(qa["answer"]).strip().strip("()")
        if answer not in "ABCD"[: len(options)] or not answer:
            raise DataFormatError(f"answer {qa['answer']!r} is not an option letter")
        body = "\n".join([stem, *[f"{'ABCD'[i]}. {o}" for i, o in enumerate(options)]])
        types = qa.get("question_type") or []
        meta = {
            "options": options,
            "bucket": str(video.get("type", "all")),
            "category": [types] if isinstance(types, str) else list(types),
            "time_reference": qa.get("time_reference"),
        }
        return Sample(
            id=str(qa["uid"]),
            target=answer,
            video=os.path.join(self.root, "videos", f"{video['key']}.mp4"),
            question=f"{PROMPT}\n{body}\nThe best answer is:",
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def parse(self, text: str, sample: Sample) -> str | None:
        return extract_letter(text)

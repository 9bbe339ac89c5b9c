"""LVBench (arXiv 2406.08035): 103 videos of about an hour, 1549 questions, from the release.

Folder, as the repository's instructions leave it (:mod:`.release`)::

    ROOT/data/video_info.meta.jsonl (or ROOT/video_info.meta.jsonl)
    ROOT/scripts/videos/00000/00000000.mp4 + 00000000.json   (download.sh: video2dataset)
    or ROOT/videos/<key>.mp4

Each line: ``{"key", "type", "video_info": {...}, "qa": [{"uid", "question" (options embedded as
"(A) ..." lines), "answer" (a letter), "question_type" (a list), "time_reference"}]}``.
``protocol=official`` (the default): the repository's ``polish_answer`` (the first character of
the reply's first token, after the ``(``...``)`` handling) compared with ``answer`` as released,
and ``compute_accuracy`` (overall, and per question type, a question counting in each of its
types); ``protocol=lmms-eval``: ``extract_mcq_answer``, the same accuracy. LVBench ships no prompt:
both send the released question text and lmms-eval's instruction line. ``bucket`` is the video's
``type``. Sources and quirks: :mod:`.official`.
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
from vlmctx_eval.tasks.common.protocol import check_protocol
from vlmctx_eval.tasks.common.release import OfficialMCQ, require_dir
from vlmctx_eval.tasks.lvbench import official
from vlmctx_eval.tasks.lvbench.release import META, VideoFinder, find_meta

_OPTION = re.compile(r"^\(([A-D])\)\s*(.*)$")


def option_texts(text: str) -> list[str]:
    """The ``(A) ...`` option lines of a released question (for the record; not needed to score)."""
    return [m.group(2).strip() for ln in text.splitlines() if (m := _OPTION.match(ln.strip()))]


@TASKS.register("lvbench", summary="LVBench (hour-long videos; accuracy per question type)")
class LVBench(OfficialMCQ):
    name: ClassVar[str]  # set by TASKS.register
    version = "2"

    def __init__(self, root: str, file: str = "", protocol: str = "official") -> None:
        self.root = require_dir(root, "lvbench", "give --task-arg lvbench:root=/data/LVBench")
        found = os.path.join(self.root, file) if file else find_meta(self.root)
        if not found or not os.path.isfile(found):
            raise ConfigError(
                f"lvbench: annotation file {file or META!r} not found under "
                f"{self.root!r} (nor in its data/ folder)"
            )
        self.file = found
        self.protocol = check_protocol("lvbench", protocol)
        self.max_new_tokens = 32 if self.protocol == "official" else 16

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "protocol": self.protocol,
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        with open(self.file, encoding="utf-8") as fh:
            lines = [ln for ln in fh if ln.strip()]
        finder = VideoFinder(self.root)
        row = 0  # save_video_txt.py numbers the lines it could parse
        for n, line in enumerate(lines, 1):
            src = f"{os.path.basename(self.file)}:{n}"
            try:
                video = json.loads(line)
                qas, key = video["qa"], str(video["key"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                yield src, DataFormatError(f"bad line: {exc}")
                continue
            path = finder.find(key, row) or os.path.join(self.root, "videos", f"{key}.mp4")
            row += 1
            for qa in qas:
                try:
                    yield src, self._sample(video, qa, path)
                except (DataFormatError, KeyError, TypeError) as exc:
                    yield src, DataFormatError(f"bad qa: {exc}")

    def _sample(self, video: dict[str, Any], qa: dict[str, Any], path: str) -> Sample:
        types = qa.get("question_type") or []
        meta = {
            "options": option_texts(str(qa["question"])),
            "bucket": str(video.get("type", "all")),
            "category": [types] if isinstance(types, str) else list(types),
            "time_reference": qa.get("time_reference"),
        }
        return Sample(
            id=str(qa["uid"]),
            target=str(qa["answer"]),
            video=path,
            question=official.prompt(str(qa["question"])),
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def parse(self, text: str, sample: Sample) -> str | None:
        """What the protocol compares with the released ``answer`` (exact equality)."""
        return official.extract(text, self.protocol) or None

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        out = super().score_one(sample, record)
        out["unparsed"] = float(out["parsed"] not in ("A", "B", "C", "D"))
        return out

    def official_results(
        self, samples: list[Sample], records: list[dict[str, Any]]
    ) -> tuple[str, Any]:
        """``official_lvbench_answers.json``: ``{uid: polished answer}``, the answer file of
        LVBench's ``compute_accuracy`` (under ``protocol=lmms-eval``: lmms-eval's letters)."""
        return "official_lvbench_answers.json", {
            s.id: official.extract(str(r.get("prediction", "")), self.protocol)
            for s, r in zip(samples, records, strict=True)
        }

"""Video-MME (arXiv 2405.21075): 900 videos, 2700 questions, short/medium/long, with or without
subtitles — the official release read from a local folder.

Folder (the Hugging Face dataset ``lmms-lab/Video-MME``, zips extracted)::

    ROOT/videomme/test-00000-of-00001.parquet   (or any *.parquet / *.json / *.jsonl under ROOT)
    ROOT/data/<videoID>.mp4
    ROOT/subtitle/<videoID>.srt                 (only for --task-arg videomme:subtitles=true)

Record fields: ``video_id``, ``duration`` (short/medium/long), ``domain``, ``sub_category``,
``videoID``, ``question_id``, ``task_type``, ``question``, ``options`` ("A. ..." strings),
``answer`` (a letter). The official results-template JSON (one object per video with a
``questions`` list) is accepted too. Prompt: the official README's; answer parsing: the official
``eval_your_results.py`` ``extract_characters_regex``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS
from vlmctx_eval.tasks.common.choices import PROMPT, extract_letter, normalize_options
from vlmctx_eval.tasks.common.release import OfficialMCQ, require_dir

PROMPT_SUBS = PROMPT.replace("based on the video.", "based on the video and the subtitles.")
SUB_HEADER = "This video's subtitles are listed below:\n"
NO_SUBS = "No subtitles available"


def read_table(root: str) -> list[dict[str, Any]]:
    """Records of every .parquet / .json / .jsonl file under ``root`` (sorted by path)."""
    files = sorted(
        os.path.join(d, f)
        for d, _, names in os.walk(root)
        for f in names
        if f.endswith((".parquet", ".json", ".jsonl")) and "subtitle" not in d
    )
    if not files:
        raise ConfigError(f"videomme: no .parquet/.json/.jsonl under {root!r}; see docs/eval.md")
    rows: list[dict[str, Any]] = []
    for f in files:
        rows += _read_one(f)
    return rows


def _read_one(path: str) -> list[dict[str, Any]]:
    if path.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ConfigError(f"reading {path} needs pyarrow: pip install 'vlmctx[eval]'") from exc
        return pq.read_table(path).to_pylist()
    with open(path, encoding="utf-8") as fh:
        if path.endswith(".jsonl"):
            return [json.loads(ln) for ln in fh if ln.strip()]
        data = json.load(fh)
    out = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("questions"), list):  # results template
            video = {k: v for k, v in item.items() if k != "questions"}
            out += [{**video, **q} for q in item["questions"]]
        else:
            out.append(item)
    return out


@TASKS.register("videomme", summary="Video-MME official release (short/medium/long; subtitles)")
class VideoMME(OfficialMCQ):
    """Video-MME multiple choice; ``subtitles=true`` is the "w/ subs" setting."""

    name: ClassVar[str]  # set by TASKS.register
    version = "1"

    def __init__(
        self, root: str, subtitles: bool = False, subtitle_tokens: int | None = None
    ) -> None:
        self.root = require_dir(root, "videomme", "give --task-arg videomme:root=/data/Video-MME")
        self.subtitles = bool(subtitles)
        self.subtitle_tokens = subtitle_tokens

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "root": self.root,
            "subtitles": self.subtitles,
            "subtitle_tokens": self.subtitle_tokens,
        }

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        for n, rec in enumerate(read_table(self.root), 1):
            try:
                yield f"videomme#{n}", self._sample(rec)
            except (DataFormatError, KeyError, TypeError) as exc:
                yield f"videomme#{n}", DataFormatError(f"bad record: {exc}")

    def _sample(self, rec: dict[str, Any]) -> Sample:
        vid = str(rec["videoID"])
        options = normalize_options(list(rec["options"]))
        answer = str(rec["answer"]).strip()
        if answer not in "ABCD"[: len(options)] or not answer:
            raise DataFormatError(f"answer {answer!r} is not one of the option letters")
        body = "\n".join(
            [rec["question"].strip(), *[f"{'ABCD'[i]}. {o}" for i, o in enumerate(options)]]
        )
        meta: dict[str, Any] = {
            "options": options,
            "bucket": str(rec["duration"]),
            "category": str(rec.get("task_type")),
            "domain": rec.get("domain"),
        }
        prompt = f"{PROMPT}\n{body}\nThe best answer is:"
        if self.subtitles:
            sub = os.path.join(self.root, "subtitle", f"{vid}.srt")
            prompt = f"{PROMPT_SUBS}\n{body}\nThe best answer is:"
            if os.path.isfile(sub):
                meta["subtitles"] = {
                    "file": sub,
                    "header": SUB_HEADER,
                    "timestamps": False,
                    "max_tokens": self.subtitle_tokens,
                    "placement": "before",
                }
            else:
                prompt = f"{SUB_HEADER}{NO_SUBS}\n{prompt}"
        video = os.path.join(self.root, "data", f"{vid}.mp4")
        return Sample(
            id=str(rec["question_id"]),
            target=answer,
            video=video,
            question=prompt,
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def parse(self, text: str, sample: Sample) -> str | None:
        return extract_letter(text)

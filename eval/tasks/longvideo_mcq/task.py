"""The ``longvideo_mcq`` task: MLVU / Video-MME / LongVideoBench-style multiple choice on videos.

Records (JSONL, or a JSON list) hold a video path, a question, options and the answer; field names
of the three benchmarks are accepted (``video``/``video_path``, ``options``/``candidates``,
``answer``/``correct_choice``, ``duration``/``duration_bucket``/``duration_group``). Accuracy is
reported overall, per duration bucket, and per number of frames the model actually saw (from the
answer's frame list), which is what a context-length study needs (arXiv 2405.21075, 2407.15754).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any, ClassVar

from vlmctx.errors import ConfigError, DataFormatError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS, LoadResult, Task
from vlmctx_eval.tasks.common.choices import (
    answer_letter,
    build_prompt,
    normalize_options,
    parse_letter,
)
from vlmctx_eval.tasks.common.release import duration_bucket

_ALIASES = {
    "id": ("id", "question_id", "qid", "uid"),
    "video": ("video", "video_path", "videoID", "video_id"),
    "options": ("options", "candidates", "choices"),
    "answer": ("answer", "correct_choice", "gold"),
    "bucket": ("duration_bucket", "duration_group", "duration_category"),
}


def _field(rec: dict[str, Any], name: str) -> Any:
    for key in _ALIASES[name]:
        if key in rec:
            return rec[key]
    return None


def read_records(path: str) -> list[tuple[int, Any]]:
    """(1-based line/item number, parsed value or the exception) of a JSONL or JSON-list file."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if path.endswith(".json"):
        data = json.loads(text)
        if not isinstance(data, list):
            raise DataFormatError(f"{path} must hold a JSON list of records")
        return list(enumerate(data, 1))
    out: list[tuple[int, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                out.append((n, exc))
    return out


def n_frames(rec: dict[str, Any]) -> int | None:
    """Frames the model saw: ``len(frames)`` of the prediction record, else its ``n_frames``."""
    if isinstance(rec.get("frames"), list):
        return len(rec["frames"])
    return int(rec["n_frames"]) if rec.get("n_frames") is not None else None


@TASKS.register("longvideo_mcq", summary="long-video multiple choice (MLVU/Video-MME/LVB style)")
class LongVideoMCQ(Task):
    """Multiple-choice QA over local videos listed in ``file``."""

    name: ClassVar[str]  # set by TASKS.register
    version = "1"
    strata_keys = ("bucket",)

    def __init__(
        self,
        file: str,
        video_root: str | None = None,
        short_s: float = 180.0,
        long_s: float = 1200.0,
        max_new_tokens: int = 16,
    ) -> None:
        if not os.path.isfile(file):
            raise ConfigError(
                f"MCQ records file {file!r} not found (--task-arg longvideo_mcq:file=)"
            )
        self.file = file
        self.video_root = video_root or os.path.dirname(os.path.abspath(file))
        self.edges = (float(short_s), float(long_s))
        self.max_new_tokens = max_new_tokens

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "bucket_edges_s": list(self.edges),
        }

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        out = LoadResult()
        seen: set[str] = set()
        for n, rec in read_records(self.file):
            src = f"{os.path.basename(self.file)}:{n}"
            try:
                sample = self._sample(n, rec)
            except DataFormatError as exc:
                out.error(src, str(exc))
                continue
            if sample.id in seen:
                out.error(src, f"duplicate id {sample.id!r}")
                continue
            seen.add(sample.id)
            out.samples.append(sample)
            if limit and len(out.samples) >= limit:
                break
        return out

    def _sample(self, n: int, rec: Any) -> Sample:
        if isinstance(rec, Exception) or not isinstance(rec, dict):
            raise DataFormatError(f"not a JSON object: {rec}")
        video, question = _field(rec, "video"), rec.get("question")
        if not video or not question:
            raise DataFormatError("record needs a video path and a question")
        options = normalize_options(_field(rec, "options"))
        gold = answer_letter(_field(rec, "answer"), options)
        path = video if os.path.isabs(video) else os.path.join(self.video_root, video)
        if not os.path.isfile(path):
            raise DataFormatError(f"video {path!r} not found")
        bucket = _field(rec, "bucket")
        if bucket is None and rec.get("duration") is not None:
            bucket = duration_bucket(float(rec["duration"]), self.edges)
        sid = str(_field(rec, "id") if _field(rec, "id") is not None else f"line{n}")
        meta = {
            "options": options,
            "bucket": str(bucket or "all"),
            "task_type": rec.get("task_type"),
        }
        return Sample(
            id=sid,
            target=gold,
            video=path,
            question=build_prompt(question, options),
            max_new_tokens=self.max_new_tokens,
            meta=meta,
        )

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        letter = parse_letter(str(record["prediction"]), sample.meta["options"])
        return {
            "acc": float(letter == sample.target),
            "parsed": letter,
            "unparsed": float(letter is None),
            "n_frames": n_frames(record),
        }

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        unparsed = 0.0
        for s, sc in zip(samples, scores, strict=True):
            if "acc" not in sc:
                continue
            unparsed += sc["unparsed"]
            groups["all"]["all"].append(sc["acc"])
            groups["bucket"][s.meta["bucket"]].append(sc["acc"])
            if sc.get("n_frames") is not None:
                groups["frames"][str(sc["n_frames"])].append(sc["acc"])
        pct = {g: {k: 100.0 * sum(v) / len(v) for k, v in d.items()} for g, d in groups.items()}
        n_all = len(groups["all"]["all"])
        scores_flat: dict[str, float | None] = {"acc": pct.get("all", {}).get("all")}
        scores_flat.update({f"acc@{b}": v for b, v in sorted(pct.get("bucket", {}).items())})
        scores_flat["unparsed_pct"] = 100.0 * unparsed / n_all if n_all else None
        frames = {k: pct["frames"][k] for k in sorted(pct.get("frames", {}), key=int)}
        return {
            "primary": "acc",
            "scores": scores_flat,
            "breakdowns": {
                "by_bucket": {"acc": dict(sorted(pct.get("bucket", {}).items()))},
                "by_frames": {"acc": frames},
            },
            "n_scored": {"all": n_all, **{b: len(v) for b, v in groups["bucket"].items()}},
        }

"""Temporal grounding in the Charades-STA format (Gao et al., TALL, arXiv 1705.02101).

Annotation file (``charades_sta_test.txt`` of the release): one moment per line,
``VIDEO_ID START END##sentence`` (seconds), videos ``ROOT/videos/<VIDEO_ID>.mp4`` (Charades
480p). Any dataset written in that format works (the task name is the format). The model is asked
for the start and end time in seconds; the first two numbers in its reply are the prediction
(swapped if reversed). Metrics: mean IoU (%) and R@1 at IoU >= 0.3/0.5/0.7 (%, the share of
moments whose IoU reaches the threshold); an unparsable reply has IoU 0. The prompt is
TimeChat-style (assumed; the benchmark has no official prompt).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Any, ClassVar

from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS, LoadResult, Task
from vlmctx_eval.tasks.common.release import stratified

THRESHOLDS = (0.3, 0.5, 0.7)
PROMPT = (
    'Find the moment in the video described by the sentence: "{sentence}". '
    "Answer with its start and end time in seconds, in the form 'START - END'."
)
_NUM = re.compile(r"\d+(?:\.\d+)?")
_LINE = re.compile(r"^(\S+)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)##(.+)$")


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal IoU of two [start, end] intervals (0 when they do not overlap)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def parse_span(text: str) -> tuple[float, float] | None:
    """The first two numbers of the reply as (start, end), or None."""
    nums = [float(x) for x in _NUM.findall(text)[:2]]
    if len(nums) < 2:
        return None
    return (min(nums), max(nums))


@TASKS.register("charades_sta", summary="temporal grounding, Charades-STA format (mIoU, R@IoU)")
class CharadesSTA(Task):
    name: ClassVar[str]  # set by TASKS.register
    version = "1"

    def __init__(self, root: str, file: str = "charades_sta_test.txt") -> None:
        if not root or not os.path.isdir(root):
            raise ConfigError(
                f"charades_sta: folder {root!r} not found (--task-arg charades_sta:root=DIR)"
            )
        self.root, self.file = root, os.path.join(root, file)
        if not os.path.isfile(self.file):
            raise ConfigError(f"charades_sta: annotation file {self.file!r} not found")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "file": self.file}

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        out = LoadResult()
        with open(self.file, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            src = f"{os.path.basename(self.file)}:{n}"
            m = _LINE.match(line.strip())
            if not m:
                out.error(src, "expected 'VIDEO_ID START END##sentence'")
                continue
            vid, start, end, sentence = m.group(1), float(m.group(2)), float(m.group(3)), m[4]
            video = os.path.join(self.root, "videos", f"{vid}.mp4")
            if end <= start:
                out.error(src, f"end {end} is not after start {start}")
            elif not os.path.isfile(video):
                out.error(src, f"video {video!r} not found")
            else:
                out.samples.append(
                    Sample(
                        id=f"{vid}#{n}",
                        target=[start, end],
                        video=video,
                        question=PROMPT.format(sentence=sentence.strip()),
                        max_new_tokens=32,
                        meta={"bucket": "all", "sentence": sentence.strip()},
                    )
                )
        out.samples = stratified(out.samples, limit)
        return out

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        span = parse_span(str(record["prediction"]))
        v = iou(span, tuple(sample.target)) if span else 0.0
        frames = record.get("frames")
        return {
            "iou": v,
            "span": span,
            "unparsed": float(span is None),
            "n_frames": len(frames) if isinstance(frames, list) else None,
            **{f"r@{t}": float(v >= t) for t in THRESHOLDS},
        }

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        done = [sc for sc in scores if "iou" in sc]
        if not done:
            return {"primary": "miou", "scores": {"miou": None}, "breakdowns": {}}
        mean = lambda k: 100.0 * sum(sc[k] for sc in done) / len(done)  # noqa: E731
        flat = {
            "miou": mean("iou"),
            **{f"R@{t}": mean(f"r@{t}") for t in THRESHOLDS},
            "unparsed_pct": mean("unparsed"),
        }
        frames: dict[str, list[float]] = defaultdict(list)
        for sc in done:
            if sc["n_frames"] is not None:
                frames[str(sc["n_frames"])].append(sc["iou"])
        by_frames = {
            k: 100.0 * sum(v) / len(v) for k, v in sorted(frames.items(), key=lambda kv: int(kv[0]))
        }
        return {
            "primary": "miou",
            "scores": flat,
            "breakdowns": {"by_frames": {"miou": by_frames}},
            "n_scored": {"all": len(done)},
        }

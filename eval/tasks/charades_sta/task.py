"""Temporal grounding on Charades-STA (Gao et al., TALL, arXiv 1705.02101), read as released.

Folder: the annotation file of TALL's README (``charades_sta_test.txt``, one moment per line,
``VIDEO_ID START END##sentence``, seconds) and the Charades v1 480p archive unpacked beside it
(``Charades_v1_480/<VIDEO_ID>.mp4``; ``videos/`` also works; :mod:`.release`). TALL ships no
prompt and no reply parser, so the default is ``protocol=lmms-eval``: lmms-eval's prompt, its
``extract_time`` (clocks and ranges; a reply without exactly one span is a bad prediction with IoU
0), IoU, R@1 at IoU >= 0.3/0.5/0.7 and mean IoU, with annotation lines repeated verbatim counted
once (its results are keyed by video, caption and timestamps). ``protocol=official``: TALL's
``calculate_IoU`` (mean clamped at 0) over every annotation line, prompt and parser as lmms-eval.
Sources and quirks: :mod:`.official`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, ClassVar

from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import TASKS, LoadResult, Task
from vlmctx_eval.tasks.charades_sta import official
from vlmctx_eval.tasks.charades_sta.release import VIDEO_DIRS, find_video
from vlmctx_eval.tasks.common.protocol import check_protocol
from vlmctx_eval.tasks.common.release import stratified

THRESHOLDS = official.THRESHOLDS


@TASKS.register("charades_sta", summary="temporal grounding, Charades-STA format (mIoU, R@IoU)")
class CharadesSTA(Task):
    name: ClassVar[str]  # set by TASKS.register
    version = "2"

    sample_metric = "iou"

    def __init__(
        self, root: str, file: str = "charades_sta_test.txt", protocol: str = "lmms-eval"
    ) -> None:
        if not root or not os.path.isdir(root):
            raise ConfigError(
                f"charades_sta: folder {root!r} not found (--task-arg charades_sta:root=DIR)"
            )
        self.root, self.file = root, os.path.join(root, file)
        if not os.path.isfile(self.file):
            raise ConfigError(f"charades_sta: annotation file {self.file!r} not found")
        self.protocol = check_protocol("charades_sta", protocol)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "file": self.file,
            "protocol": self.protocol,
        }

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        out = LoadResult()
        with open(self.file, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
        where = " or ".join(f"{d}/" for d in VIDEO_DIRS if d)
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            src = f"{os.path.basename(self.file)}:{n}"
            parsed = official.parse_line(line)
            if not parsed:
                out.error(src, "expected 'VIDEO_ID START END##sentence'")
                continue
            vid, start, end, sentence = parsed
            video = find_video(self.root, vid)
            if end <= start:
                out.error(src, f"end {end} is not after start {start}")
            elif video is None:
                out.error(src, f"video {vid} not found under {self.root!r} ({where})")
            else:
                out.samples.append(
                    Sample(
                        id=f"{vid}#{n}",
                        target=[start, end],
                        video=video,
                        question=official.prompt(sentence),
                        max_new_tokens=50,
                        meta={
                            "bucket": "all",
                            "sentence": sentence,
                            "key": official.lmms_key(f"{vid}.mp4", sentence, start, end),
                        },
                    )
                )
        out.samples = stratified(out.samples, limit)
        return out

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        gt = (float(sample.target[0]), float(sample.target[1]))
        v, bad = official.span_iou(gt, str(record["prediction"]), self.protocol)
        spans = official.extract_time(str(record["prediction"]))
        frames = record.get("frames")
        return {
            "iou": v,
            "span": list(spans[0]) if spans else None,
            "unparsed": float(bad),
            "n_frames": len(frames) if isinstance(frames, list) else None,
            **{f"r@{t}": float(v >= t) for t in THRESHOLDS},
        }

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        done = [(s, sc) for s, sc in zip(samples, scores, strict=True) if "iou" in sc]
        if self.protocol == "lmms-eval":  # one result per video>>>caption>>>timestamp: the last
            last = {s.meta.get("key", s.id): (s, sc) for s, sc in done}
            done = [last[k] for k in dict.fromkeys(s.meta.get("key", s.id) for s, _ in done)]
        if not done:
            return {"primary": "miou", "scores": {"miou": None}, "breakdowns": {}}
        m = official.metrics(sc["iou"] for _, sc in done)
        flat = {
            "miou": m["mIOU"],
            **{f"R@{t}": m[f"IOU@{int(t * 10)}"] for t in THRESHOLDS},
            "unparsed_pct": 100.0 * sum(sc["unparsed"] for _, sc in done) / len(done),
        }
        frames: dict[str, list[float]] = defaultdict(list)
        for _, sc in done:
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

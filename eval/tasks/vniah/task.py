"""The ``vniah`` task: visual needle in a haystack over haystack length x needle depth.

Scores exact match of the code (after the ``Answer:`` prefix, if any, and normalization), the
looser ``contains`` (the code appears as a whole number in the reply), and ``needle_seen``: whether
the frames the model actually received include the needle, which separates "the sampler never
showed it" from "the model saw it and missed it". Run with ``--fps`` equal to the set's fps so every
frame is seen (see docs/eval.md). After LongVA's V-NIAH (arXiv 2406.16852).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Any, ClassVar

from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import Sample, read_jsonl
from vlmctx_eval.tasks.base import TASKS, LoadResult, Task, generated_dir
from vlmctx_eval.tasks.common.text_metrics import normalize_answer, parse_output
from vlmctx_eval.tasks.vniah.generate import generate_vniah


def _floats(v: Any) -> list[float]:
    if isinstance(v, (int, float)):
        return [float(v)]
    if isinstance(v, str):
        return [float(x) for x in v.split(",") if x.strip()]
    return [float(x) for x in v]


@TASKS.register("vniah", summary="visual needle-in-a-haystack, generated locally (LongVA-style)")
class VNIAH(Task):
    """V-NIAH from ``dir`` (generated there first when its ``vniah.jsonl`` is missing)."""

    name: ClassVar[str]  # set by TASKS.register
    version = "1"
    sample_metric = "exact_match"
    chance_pct = 0.01  # a 4-digit code guessed at random: 1 in 10,000
    generates_data = True

    def __init__(
        self,
        dir: str | None = None,
        frames: Any = "16,32,64",
        depths: Any = "0,0.25,0.5,0.75,1",
        fps: float = 1.0,
        size: int = 336,
        seed: int = 0,
        generate: bool = True,
        max_new_tokens: int = 16,
    ) -> None:
        self.gen_args = {
            "frames": [int(f) for f in _floats(frames)],
            "depths": _floats(depths),
            "fps": float(fps),
            "size": int(size),
            "seed": int(seed),
        }
        self.dir = dir or generated_dir("vniah", self.gen_args)  # default: under the cache
        self.index = os.path.join(self.dir, "vniah.jsonl")
        self.generate = generate
        self.max_new_tokens = max_new_tokens

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "dir": self.dir, **self.gen_args}

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        if not os.path.exists(self.index):
            if not self.generate:
                raise ConfigError(f"no V-NIAH set at {self.index!r}; pass generate=true")
            generate_vniah(self.dir, **self.gen_args)
        out = LoadResult()
        records, problems = read_jsonl(self.index)
        for p in problems:
            out.error(p, "malformed line")
        for rec in records:
            try:
                out.samples.append(
                    Sample(
                        id=str(rec["id"]),
                        target=str(rec["answer"]),
                        video=os.path.join(self.dir, rec["video"]),
                        question=str(rec["question"]),
                        max_new_tokens=self.max_new_tokens,
                        meta={
                            k: rec[k] for k in ("frames", "depth", "needle_index", "needle_span")
                        },
                    )
                )
            except KeyError as exc:
                out.error(f"vniah.jsonl id={rec.get('id')}", f"missing field {exc}")
            if limit and len(out.samples) >= limit:
                break
        return out

    def strata(self, sample: Sample) -> dict[str, str]:
        """The report's breakdown: haystack frames x needle depth (the heatmap's cells)."""
        return {"frames": str(sample.meta["frames"]), "depth": f"{sample.meta['depth']:.2f}"}

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        pred = str(record["prediction"])
        parsed = normalize_answer(parse_output(pred, "Answer:"))
        res: dict[str, Any] = {
            "exact_match": float(parsed == normalize_answer(sample.target)),
            "contains": float(
                re.search(rf"(?<!\d){re.escape(sample.target)}(?!\d)", pred) is not None
            ),
        }
        if isinstance(record.get("frames"), list):
            seen = {int(f[0]) for f in record["frames"]}
            start = sample.meta["needle_index"]
            needle = range(start, start + sample.meta["needle_span"])
            res["needle_seen"] = float(any(i in seen for i in needle))
        return res

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        grid: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        totals: dict[str, list[float]] = defaultdict(list)
        for s, sc in zip(samples, scores, strict=True):
            if "exact_match" not in sc:
                continue
            grid[str(s.meta["frames"])][f"{s.meta['depth']:.2f}"].append(sc["exact_match"])
            for key in ("exact_match", "contains", "needle_seen"):
                if key in sc:
                    totals[key].append(sc[key])
        pct = {
            f: {d: 100.0 * sum(v) / len(v) for d, v in sorted(row.items())}
            for f, row in sorted(grid.items(), key=lambda kv: int(kv[0]))
        }
        by_frames = {f: sum(row.values()) / len(row) for f, row in pct.items()}
        scores_flat = {k: 100.0 * sum(v) / len(v) for k, v in totals.items()}
        return {
            "primary": "exact_match",
            "scores": scores_flat,
            "breakdowns": {"grid": pct, "by_frames": {"exact_match": by_frames}},
            "n_scored": {"all": len(totals.get("exact_match", []))},
        }

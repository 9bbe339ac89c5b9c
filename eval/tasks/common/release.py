"""What the official long-video benchmarks share: loading, stratified limits, MCQ scoring and
aggregation.

Each benchmark module (``videomme``, ``mlvu``, ``longvideobench``, ``lvbench``) reads its official
release from a local folder and turns it into :class:`Sample` objects whose ``meta`` holds the
option letters, the duration ``bucket``, the ``category`` (or categories) the benchmark reports,
and, with subtitles on, the subtitle track the runner hands to ``VideoLM.ask(subtitles=)``. The
answer parser is the benchmark's own (its official script's rule), passed in as ``parse``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import Sample
from vlmctx_eval.tasks.base import LoadResult, Task

Parser = Callable[[str, Sample], str | None]


def stratified(samples: list[Sample], limit: int | None, key: str = "bucket") -> list[Sample]:
    """At most ``limit`` samples taken round-robin over ``meta[key]`` groups, in official order.

    Group ``g`` contributes its first samples; groups take turns in order of first appearance, so
    ``--limit 30`` on Video-MME gives 10 short, 10 medium and 10 long questions.
    """
    if not limit or limit >= len(samples):
        return samples
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[str(s.meta.get(key))].append(i)
    queues = list(groups.values())
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        for q in queues:
            if depth < len(q) and len(chosen) < limit:
                chosen.append(q[depth])
        depth += 1
    return [samples[i] for i in sorted(chosen)]


def require_dir(root: str, task: str, hint: str) -> str:
    if not root or not os.path.isdir(root):
        raise ConfigError(f"{task}: data folder {root!r} not found; {hint}")
    return root


class OfficialRelease(Task):
    """Base of the official-release loaders: subclasses yield samples in official order; the
    base drops malformed records, duplicate ids and missing videos (reported as data errors) and
    applies ``--limit`` round-robin over ``meta[stratify_key]`` groups."""

    stratify_key = "bucket"
    strata_keys = ("bucket", "category")  # what the report breaks down by (the runner's --limit)

    def raw_samples(self) -> Iterable[tuple[str, Sample | Exception]]:
        """``(source, sample or the DataFormatError)`` in the benchmark's official order."""
        raise NotImplementedError

    def load(self, lengths: list[int] | None = None, limit: int | None = None) -> LoadResult:
        out = LoadResult()
        seen: set[str] = set()
        for src, item in self.raw_samples():
            if isinstance(item, Exception):
                out.error(src, str(item))
            elif item.id in seen:
                out.error(src, f"duplicate id {item.id!r}")
            elif not os.path.isfile(item.video or ""):
                out.error(src, f"video {item.video!r} not found")
            else:
                seen.add(item.id)
                out.samples.append(item)
        out.samples = stratified(out.samples, limit, self.stratify_key)
        return out


class OfficialMCQ(OfficialRelease):
    """Base of the official MCQ loaders: subclasses yield samples and give a parser."""

    max_new_tokens = 32

    def parse(self, text: str, sample: Sample) -> str | None:
        raise NotImplementedError

    def score_one(self, sample: Sample, record: dict[str, Any]) -> dict[str, Any]:
        letter = self.parse(str(record["prediction"]), sample)
        frames = record.get("frames")
        n = len(frames) if isinstance(frames, list) else record.get("n_frames")
        return {
            "acc": float(letter == sample.target),
            "parsed": letter,
            "unparsed": float(letter is None),
            "n_frames": n,
        }

    def aggregate(self, samples: list[Sample], scores: list[dict[str, Any]]) -> dict[str, Any]:
        return mcq_aggregate(samples, scores)


def _pct(groups: dict[str, list[float]], order: Callable[[str], Any] = str) -> dict[str, float]:
    return {
        k: 100.0 * sum(v) / len(v) for k, v in sorted(groups.items(), key=lambda kv: order(kv[0]))
    }


def mcq_aggregate(
    samples: list[Sample],
    scores: list[dict[str, Any]],
    primary: str = "acc",
    skip_unparsed: bool = False,
) -> dict[str, Any]:
    """Accuracy (%) overall, per duration bucket, per category and per frames seen.

    ``macro_acc`` is the mean of the per-category accuracies (MLVU's M-Avg); a sample with several
    categories (LVBench) counts in each. ``skip_unparsed`` leaves unparsed replies out of every
    accuracy (Video-MME's official ``eval_your_results.py``: accuracy over the answered
    questions, 0 when none was answered); ``unparsed_pct`` is always over every scored reply.
    """
    allv: list[float] = []
    bucket: dict[str, list[float]] = defaultdict(list)
    cat: dict[str, list[float]] = defaultdict(list)
    frames: dict[str, list[float]] = defaultdict(list)
    unparsed = 0.0
    n_all = 0
    for s, sc in zip(samples, scores, strict=True):
        if "acc" not in sc:
            continue
        n_all += 1
        unparsed += sc["unparsed"]
        if skip_unparsed and sc["unparsed"]:
            continue
        allv.append(sc["acc"])
        bucket[str(s.meta.get("bucket"))].append(sc["acc"])
        cats = s.meta.get("category") or []
        for c in [cats] if isinstance(cats, str) else cats:
            cat[str(c)].append(sc["acc"])
        if sc.get("n_frames") is not None:
            frames[str(sc["n_frames"])].append(sc["acc"])
    by_cat = _pct(cat)
    flat: dict[str, float | None] = {
        "acc": 100.0 * sum(allv) / len(allv) if allv else (0.0 if n_all else None),
        "macro_acc": sum(by_cat.values()) / len(by_cat) if by_cat else None,
    }
    flat.update({f"acc@{b}": v for b, v in _pct(bucket, bucket_order).items()})
    flat["unparsed_pct"] = 100.0 * unparsed / n_all if n_all else None
    return {
        "primary": primary,
        "scores": flat,
        "breakdowns": {
            "by_bucket": {"acc": _pct(bucket, bucket_order)},
            "by_category": {"acc": by_cat},
            "by_frames": {"acc": _pct(frames, int)},
        },
        "n_scored": {
            "all": n_all,
            **({"answered": len(allv)} if skip_unparsed else {}),
            **{b: len(v) for b, v in bucket.items()},
        },
    }


_ORDER = {"short": 0, "medium": 1, "long": 2}


def bucket_order(name: str) -> tuple[int, float, str]:
    """short < medium < long; numeric buckets ("15", "600") by value; the rest by name."""
    if name in _ORDER:
        return (0, _ORDER[name], name)
    head = name.split("-")[0].rstrip("s")
    try:
        return (1, float(head), name)
    except ValueError:
        return (2, 0.0, name)


def duration_bucket(seconds: float, edges: tuple[float, float]) -> str:
    """Video-MME-like buckets: short (< edges[0] s), medium (< edges[1] s), long."""
    return "short" if seconds < edges[0] else "medium" if seconds < edges[1] else "long"

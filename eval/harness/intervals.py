"""How much to trust each number: the headline's 95% interval and per-stratum tables with counts.

Written into ``results.json`` per task by the runner (so the report's Markdown, CSV and HTML all
read the same numbers):

* ``intervals``: the primary score, its 95% interval, ``n`` and the method. When the primary is
  the percentage of right answers over the scored samples, the interval is Wilson's
  (:func:`~vlmctx_eval.harness.stats.wilson_interval`); otherwise (a mean over categories such as
  MLVU's M-Avg, IoU, ROUGE, judge scores) it is a percentile bootstrap of the task's own
  aggregate, resampling samples within their strata (1000 resamples, seeded).
* ``strata``: for every dimension the task reports by (:meth:`Task.strata`; plus ``frames_seen``,
  the frames the model actually got, for tasks whose data have no frame dimension), each level's
  mean of the per-sample score (:meth:`Task.sample_value`, in % when it lies in [0, 1]), interval
  and ``n``; ``cells`` crosses the first two dimensions (the V-NIAH heatmap, toylab's lines per
  kind); ``chance`` is the score of a random answer where the task defines one.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import Any

from vlmctx_eval.harness.records import Sample
from vlmctx_eval.harness.stats import (
    BOOTSTRAP_RESAMPLES,
    bootstrap_mean_interval,
    percentile_interval,
    wilson_interval,
)
from vlmctx_eval.harness.strata import SEP
from vlmctx_eval.tasks.base import Task

WILSON = "Wilson 95%"
BOOT = f"bootstrap 95% ({BOOTSTRAP_RESAMPLES} resamples, percentile)"
BOOT_SECONDS = 30.0  # a huge task stops resampling early (the count used is recorded)


def cell(values: list[float]) -> dict[str, Any]:
    """Mean, 95% interval and n of per-sample values (Wilson for 0/1, else bootstrap); in % when
    the values lie in [0, 1]."""
    n = len(values)
    if not n:
        return {"value": None, "low": None, "high": None, "n": 0, "method": None}
    scale = 100.0 if all(0.0 <= v <= 1.0 for v in values) else 1.0
    if all(v in (0.0, 1.0) for v in values):
        k = int(sum(values))
        lo, hi = wilson_interval(k, n)
        return {
            "value": scale * k / n,
            "low": scale * lo,
            "high": scale * hi,
            "n": n,
            "k": k,
            "method": WILSON,
        }
    lo, hi = bootstrap_mean_interval(values)
    mean = sum(values) / n
    return {"value": scale * mean, "low": scale * lo, "high": scale * hi, "n": n, "method": BOOT}


def _scored(
    task: Task, samples: list[Sample], scores: list[dict[str, Any]]
) -> list[tuple[int, float]]:
    out = []
    for i, (s, sc) in enumerate(zip(samples, scores, strict=True)):
        if "error" in sc:
            continue
        v = task.sample_value(s, sc)
        if v is not None:
            out.append((i, v))
    return out


def headline(
    task: Task, samples: list[Sample], scores: list[dict[str, Any]], agg: dict[str, Any]
) -> dict[str, Any]:
    """The primary score with its 95% interval, ``n`` and how the interval was made."""
    primary = agg.get("primary") or ""
    value = (agg.get("scores") or {}).get(primary)
    scored = _scored(task, samples, scores)
    out: dict[str, Any] = {"metric": primary, "value": value, "low": None, "high": None}
    out["n"] = len(scored)
    if value is None or not scored:
        return {**out, "method": None}
    values = [v for _, v in scored]
    c = cell(values)
    if c["method"] == WILSON and abs(c["value"] - value) < 1e-6:
        return {**out, "low": c["low"], "high": c["high"], "k": c["k"], "method": WILSON}
    lo, hi, reps = _bootstrap_aggregate(task, samples, scores, primary)
    if lo is None:
        return {**out, "method": "no interval (the aggregate could not be resampled)"}
    method = (
        BOOT if reps == BOOTSTRAP_RESAMPLES else BOOT.replace(str(BOOTSTRAP_RESAMPLES), str(reps))
    )
    return {**out, "low": lo, "high": hi, "method": method + ", of the task's aggregate"}


def _bootstrap_aggregate(
    task: Task, samples: list[Sample], scores: list[dict[str, Any]], primary: str
) -> tuple[float | None, float | None, int]:
    """Percentile bootstrap of ``task.aggregate``'s primary score, resampling within strata."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        groups[SEP.join(task.strata(s).values())].append(i)
    rng = random.Random(0)
    reps: list[float] = []
    start = time.perf_counter()
    for _ in range(BOOTSTRAP_RESAMPLES):
        idx = [g[rng.randrange(len(g))] for g in groups.values() for _ in g]
        try:
            agg = task.aggregate([samples[i] for i in idx], [scores[i] for i in idx])
        except Exception:  # noqa: BLE001 - a task's aggregate may not take duplicates: no interval
            return None, None, 0
        v = (agg.get("scores") or {}).get(primary)
        if isinstance(v, int | float):
            reps.append(float(v))
        if time.perf_counter() - start > BOOT_SECONDS:
            break
    if len(reps) < 20:
        return None, None, len(reps)
    lo, hi = percentile_interval(reps)
    return lo, hi, len(reps)


def per_stratum(
    task: Task, samples: list[Sample], scores: list[dict[str, Any]], lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per-level tables of every strata dimension (and their first two crossed) with intervals."""
    scored = dict(_scored(task, samples, scores))
    dims: list[str] = []
    rows: list[tuple[dict[str, str], float | None]] = []
    for i, s in enumerate(samples):
        levels = dict(task.strata(s))
        frames = lines[i].get("n_frames") if i < len(lines) else None
        if "frames" not in levels and frames is not None:
            levels["frames_seen"] = str(frames)
        dims += [d for d in levels if d not in dims]
        rows.append((levels, scored.get(i)))
    by: dict[str, dict[str, list[float]]] = {d: defaultdict(list) for d in dims}
    cells: dict[str, list[float]] = defaultdict(list)
    for levels, v in rows:
        for d in dims:
            lst = by[d][levels.get(d, "None")]
            if v is not None:
                lst.append(v)
        if len(dims) >= 2:
            key = SEP.join(levels.get(d, "None") for d in dims[:2])
            cells[key] += [v] if v is not None else []
    return {
        "metric": task.sample_metric or "acc/exact_match",
        "dims": dims,
        "by": {d: {lv: cell(v) for lv, v in sorted(t.items(), key=_lk)} for d, t in by.items()},
        "cells": {k: cell(v) for k, v in cells.items()},
        "cell_dims": dims[:2] if len(dims) >= 2 else [],
        "chance": task.chance(samples),
    }


def _lk(kv: tuple[str, Any]) -> tuple[int, float, str]:
    try:
        return (0, float(kv[0].rstrip("k")), kv[0])
    except ValueError:
        return (1, 0.0, kv[0])

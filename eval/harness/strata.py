"""Stratified ``--limit``: a small run that covers every stratum its report shows.

A task says what its report breaks results down by (:meth:`Task.strata`: e.g. toylab's question
kind and frame count, V-NIAH's frames and needle depth, an official benchmark's duration bucket and
question category). A *stratum* is one combination of those values (a cell of the cross table);
a *level* is one value of one dimension (the 64-frame videos). The runner, not the task, samples:

* ``--limit N`` with ``N`` at least the number of strata: every stratum gets one sample, the rest
  is shared in proportion to the strata's sizes (largest remainder);
* ``--limit N`` below the number of strata but at least the largest number of levels of any one
  dimension: ``N`` strata get one sample each, chosen so that every level of every dimension is
  covered and the levels stay balanced (toylab's 25 strata with ``--limit 20``: each kind and
  each frame count 4 times);
* ``--limit N`` below that is refused with one line: some level the report shows would be empty;
* ``--limit-per-stratum K``: ``K`` samples (or all there are) from every stratum.

Which samples of a stratum are taken is a seeded permutation (``--seed``) of the stratum, so the
same command takes the same samples, and a larger limit keeps the smaller one's samples where its
allocation grows. Samples stay in the benchmark's official order. :func:`select` returns them and a
plan, recorded in ``results.json`` (``selection``) and printed at start (:func:`describe_plan`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vlmctx.errors import ConfigError
from vlmctx_eval.harness.records import Sample

Strata = Callable[[Sample], dict[str, str]]
SEP = " / "  # joins the levels of a stratum into its name


@dataclass
class Selection:
    """The samples a run evaluates (official order) and how they were chosen."""

    samples: list[Sample]
    plan: dict[str, Any] = field(default_factory=dict)


def _cells(samples: list[Sample], strata: Strata) -> tuple[list[str], dict[tuple, list[int]]]:
    dims: list[str] = []
    cells: dict[tuple, list[int]] = {}
    for i, s in enumerate(samples):
        levels = strata(s)
        for d in levels:
            if d not in dims:
                dims.append(d)
        cells.setdefault(tuple(str(levels.get(d)) for d in dims), []).append(i)
    # keys made before a later sample added a dimension are padded (a task's strata are fixed,
    # so this only guards against a task that omits a dimension for some samples)
    fixed: dict[tuple, list[int]] = {}
    for key, idx in cells.items():
        fixed.setdefault(key + ("None",) * (len(dims) - len(key)), []).extend(idx)
    return dims, fixed


def _proportional(sizes: dict[tuple, int], n: int, order: list[tuple]) -> dict[tuple, int]:
    """One per stratum, the remaining ``n - len(sizes)`` in proportion to size (largest
    remainder, ties in ``order``), never more than a stratum holds."""
    alloc = {k: 1 for k in sizes}
    left = n - len(sizes)
    while left > 0:
        room = {k: sizes[k] - alloc[k] for k in sizes if sizes[k] > alloc[k]}
        total = sum(room.values())
        if not total:
            break
        quota = {k: left * room[k] / total for k in room}
        add = {k: min(room[k], int(quota[k])) for k in room}
        given = sum(add.values())
        if given == 0:  # the remainders: one more to `left` strata, keeping the levels even
            cand = sorted(room, key=lambda k: (-(quota[k] - int(quota[k])), order.index(k)))
            add = _covering(cand, room, left, len(cand[0]), "remainder", alloc)
            given = len(add)
        for k, v in add.items():
            alloc[k] += v
        left -= given
    return alloc


def _covering(
    keys: list[tuple],
    sizes: dict[tuple, int],
    n: int,
    ndims: int,
    seed: str,
    base: dict[tuple, int] | None = None,
) -> dict[tuple, int]:
    """``n`` strata (one sample each) that cover every level of every dimension, balanced.

    Greedy: each pick covers the most uncovered levels, then keeps the most used level of the
    pick lowest, then the total use, then prefers large strata. A greedy pass can paint itself
    into a corner (the strata left repeat used levels), so a few seeded orders are tried and the
    most even one is kept: on a full cross table every level then gets ``n / levels`` or one
    more (toylab, 25 strata, ``--limit 20``: each kind and each frame count 4 times)."""
    best: dict[tuple, int] = {}
    best_score: tuple[int, int, int] | None = None
    for attempt in range(COVER_TRIES):
        order = _shuffled(keys, f"{seed}|{attempt}") if attempt else keys
        chosen = _greedy_cover(order, sizes, n, ndims, base or {})
        total = dict(base or {})
        for k in chosen:
            total[k] = total.get(k, 0) + 1
        score = _imbalance(total, keys, ndims)
        if best_score is None or score < best_score:
            best, best_score = chosen, score
        if score[0] == 0 and score[1] <= 1:  # covered, every dimension within one
            break
    return best


COVER_TRIES = 64


def _greedy_cover(
    keys: list[tuple], sizes: dict[tuple, int], n: int, ndims: int, base: dict[tuple, int]
) -> dict[tuple, int]:
    used: list[Counter[str]] = [Counter() for _ in range(ndims)]
    for k, c in base.items():
        for d in range(ndims):
            used[d][k[d]] += c
    chosen: dict[tuple, int] = {}
    rank = {k: i for i, k in enumerate(keys)}
    for _ in range(n):
        pick = min(
            (k for k in keys if k not in chosen),
            key=lambda k: (
                -sum(used[d][k[d]] == 0 for d in range(ndims)),
                max((used[d][k[d]] for d in range(ndims)), default=0),
                sum(used[d][k[d]] for d in range(ndims)),
                -sizes[k],
                rank[k],
            ),
        )
        chosen[pick] = 1
        for d in range(ndims):
            used[d][pick[d]] += 1
    return chosen


def _imbalance(alloc: dict[tuple, int], keys: list[tuple], ndims: int) -> tuple[int, int, int]:
    """(levels left uncovered, largest and summed max - min use over dimensions) of ``alloc``
    (stratum -> samples)."""
    uncovered, worst, spread = 0, 0, 0
    for d in range(ndims):
        counts = Counter({k[d]: 0 for k in keys})
        for k, c in alloc.items():
            counts[k[d]] += c
        uncovered += sum(1 for c in counts.values() if c == 0)
        gap = max(counts.values(), default=0) - min(counts.values(), default=0)
        worst, spread = max(worst, gap), spread + gap
    return uncovered, worst, spread


def select(
    task: str,
    samples: list[Sample],
    strata: Strata,
    limit: int | None = None,
    per_stratum: int | None = None,
    seed: int = 0,
) -> Selection:
    """The samples of a stratified ``--limit``/``--limit-per-stratum`` (all without either)."""
    dims, cells = _cells(samples, strata)
    keys = list(cells)
    sizes = {k: len(v) for k, v in cells.items()}
    levels = [sorted({k[d] for k in keys}, key=_level_key) for d in range(len(dims))]
    widest = max((len(lv) for lv in levels), default=1)
    if per_stratum is not None:
        alloc = {k: min(per_stratum, sizes[k]) for k in keys}
    elif limit is None or limit >= len(samples):
        alloc = dict(sizes)
    elif limit >= len(keys):
        alloc = _proportional(sizes, limit, _shuffled(keys, f"{seed}|{task}"))
    elif limit >= widest:
        order = _shuffled(keys, f"{seed}|{task}")
        alloc = _covering(order, sizes, limit, len(dims), f"{seed}|{task}")
    else:
        d = next(i for i, lv in enumerate(levels) if len(lv) == widest)
        raise ConfigError(
            f"{task}: --limit {limit} is fewer than the {widest} {dims[d]} levels its report "
            f"shows; use --limit {widest} or more, or --limit-per-stratum K (K samples from "
            f"each of its {len(keys)} strata)"
        )
    chosen: list[int] = []
    for k in keys:
        idx = list(cells[k])
        random.Random(f"{seed}|{task}|{SEP.join(k)}").shuffle(idx)
        chosen += idx[: alloc.get(k, 0)]
    picked = [samples[i] for i in sorted(chosen)]
    return Selection(picked, _plan(dims, keys, sizes, alloc, limit, per_stratum, seed, samples))


def _shuffled(keys: list[tuple], seed: str) -> list[tuple]:
    out = list(keys)
    random.Random(f"{seed}|strata").shuffle(out)
    return out


def _level_key(v: str) -> tuple[int, float, str]:
    try:
        return (0, float(v.rstrip("k")), v)
    except ValueError:
        return (1, 0.0, v)


def _plan(
    dims: list[str],
    keys: list[tuple],
    sizes: dict[tuple, int],
    alloc: dict[tuple, int],
    limit: int | None,
    per_stratum: int | None,
    seed: int,
    samples: list[Sample],
) -> dict[str, Any]:
    per_level: dict[str, dict[str, int]] = {}
    for d, name in enumerate(dims):
        counts: Counter[str] = Counter()
        for k in keys:
            counts[k[d]] += alloc.get(k, 0)
        per_level[name] = {lv: counts[lv] for lv in sorted(counts, key=_level_key)}
    uncovered = [
        f"{d}={lv}" for d, lv_counts in per_level.items() for lv, c in lv_counts.items() if not c
    ]
    return {
        "limit": limit,
        "limit_per_stratum": per_stratum,
        "seed": seed,
        "n_available": len(samples),
        "n_selected": sum(alloc.get(k, 0) for k in keys),
        "dims": dims,
        "n_strata": len(keys),
        "n_strata_sampled": sum(1 for k in keys if alloc.get(k, 0)),
        "levels": per_level,
        "uncovered_levels": uncovered,
        "strata": {SEP.join(k): [alloc.get(k, 0), sizes[k]] for k in keys},
    }


def describe_plan(task: str, plan: dict[str, Any]) -> str:
    """One line for the start of a run: ``toylab: 20 of 250 samples over 25 strata (...)``."""
    n, avail, ns = plan["n_selected"], plan["n_available"], plan["n_strata"]
    dims = " x ".join(plan["dims"]) or "one stratum"
    head = f"{task}: {n} of {avail} samples over {ns} strata ({dims})"
    if plan["n_strata_sampled"] < ns:
        head += f", {plan['n_strata_sampled']} of them sampled"
        missing = plan.get("uncovered_levels") or []
        head += (
            f", levels not covered: {', '.join(missing)}" if missing else ", every level covered"
        )
    parts = [
        f"{d} " + ", ".join(f"{lv} {c}" for lv, c in levels.items())
        for d, levels in plan["levels"].items()
    ]
    return head + (": " + "; ".join(parts) if parts else "")

"""Small-sample statistics for comparing eval runs: Wilson intervals and McNemar's test.

Accuracy on a few hundred benchmark questions is a noisy number; two settings evaluated on the
same questions are compared *paired* (per question), not by their two accuracies. This module has
no dependency beyond the standard library (no scipy), so the eval room and its reports can use it
anywhere.

- :func:`wilson_interval`: Wilson score interval for a binomial proportion (Wilson 1927); unlike
  the normal-approximation ("Wald") interval it stays inside [0, 1] and keeps close to its nominal
  coverage at small n or accuracies near 0 or 1.
- :func:`mcnemar`: McNemar's test (McNemar 1947) on the discordant pairs of a paired comparison
  (``b`` = only A right, ``c`` = only B right). With fewer than :data:`EXACT_BELOW` discordant
  pairs it is the *exact* two-sided binomial test (``b ~ Binomial(b + c, 1/2)`` under the null);
  otherwise the chi-square statistic with Edwards' continuity correction,
  ``(|b - c| - 1)^2 / (b + c)``, against chi-square with one degree of freedom. The result says
  which one was used.
- :func:`paired_compare`: both of the above from two runs' per-sample correctness, on the ids they
  share.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

Z95 = 1.959963984540054  # two-sided 95% standard normal quantile
EXACT_BELOW = 25  # discordant pairs below which McNemar's exact binomial test is used


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for ``successes`` out of ``n`` (95% by default).

    ``n == 0`` gives ``(0.0, 1.0)``: with no observations every proportion is possible.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on ``b`` (only A correct) and ``c`` (only B correct) discordant pairs."""

    b: int
    c: int
    method: str  # "exact binomial" or "chi-square, continuity-corrected"
    statistic: float | None  # chi-square statistic; None for the exact test
    p_value: float


def _binom_two_sided(b: int, c: int) -> float:
    """Exact two-sided p of ``min(b, c)`` or fewer successes in ``b + c`` fair coin flips, doubled."""
    n = b + c
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def mcnemar(b: int, c: int, exact_below: int = EXACT_BELOW) -> McNemarResult:
    """McNemar's test; exact binomial if ``b + c < exact_below``, else corrected chi-square.

    With no discordant pairs (``b == c == 0``) the two runs agree everywhere: ``p = 1``.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    if b + c < exact_below:
        return McNemarResult(b, c, "exact binomial", None, _binom_two_sided(b, c))
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    # Survival function of chi-square with 1 degree of freedom: erfc(sqrt(x / 2)).
    return McNemarResult(
        b, c, "chi-square, continuity-corrected", stat, math.erfc(math.sqrt(stat / 2))
    )


def paired_compare(a: dict[str, bool], b: dict[str, bool]) -> dict[str, Any]:
    """Compare two runs' per-sample correctness (``{sample_id: correct}``) on their shared ids.

    Returns the number of shared samples, both accuracies with Wilson 95% intervals, the paired
    difference ``acc_b - acc_a``, the discordant counts and McNemar's test. Ids present in only
    one run are counted (``only_a``/``only_b``) but never scored: an unpaired sample says nothing
    about the difference.
    """
    shared = sorted(set(a) & set(b))
    n = len(shared)
    ka = sum(bool(a[i]) for i in shared)
    kb = sum(bool(b[i]) for i in shared)
    only_a = sum(bool(a[i]) and not bool(b[i]) for i in shared)
    only_b = sum(bool(b[i]) and not bool(a[i]) for i in shared)
    test = mcnemar(only_a, only_b)
    return {
        "n_shared": n,
        "only_in_a": len(set(a) - set(b)),
        "only_in_b": len(set(b) - set(a)),
        "acc_a": ka / n if n else None,
        "acc_b": kb / n if n else None,
        "ci_a": wilson_interval(ka, n),
        "ci_b": wilson_interval(kb, n),
        "diff": (kb - ka) / n if n else None,
        "a_right_b_wrong": only_a,
        "b_right_a_wrong": only_b,
        "mcnemar": asdict(test),
    }


BOOTSTRAP_RESAMPLES = 1000


def percentile_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` range of ``values`` (linear interpolation between order statistics),
    the percentile bootstrap interval when ``values`` are bootstrap replicates."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    out = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        pos = q * (len(xs) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(xs) - 1)
        out.append(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))
    return out[0], out[1]


def bootstrap_mean_interval(
    values: list[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean of ``values`` (seeded, so reports repeat).

    For non-binary per-sample scores (IoU, ROUGE, judge scores) where Wilson does not apply.
    """
    import random

    if not values:
        raise ValueError("no values")
    rng = random.Random(seed)
    n = len(values)
    means = [sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples)]
    return percentile_interval(means)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): the family-wise error rate of
    the whole table stays at the nominal level however many rows it has (Holm 1979)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted

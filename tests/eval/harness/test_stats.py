"""Wilson intervals and McNemar's test against hand-computed values."""

from __future__ import annotations

import pytest

from vlmctx_eval.harness.stats import mcnemar, paired_compare, wilson_interval


@pytest.mark.parametrize(
    "k,n,low,high",
    [
        # 8/10: centre (0.8 + 1.92073/10) / 1.384146 = 0.716742, half 1.415982 * 0.160012 = 0.226574
        (8, 10, 0.490162, 0.943318),
        # 0/10: centre = half = 0.192073 / 1.384146 = 0.138766 -> (0, 0.277533)
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),  # mirror of 0/10
        # 50/100: centre 0.5, half = 1.959964 / 1.038415 * sqrt(0.0025 + 0.0000960) = 0.096170
        (50, 100, 0.403830, 0.596170),
    ],
)
def test_wilson_hand_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=2e-6) and hi == pytest.approx(high, abs=2e-6)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


@pytest.mark.parametrize(
    "b,c,p",
    [
        (1, 6, 2 * (1 + 7) / 2**7),  # 0.125
        (2, 10, 2 * (1 + 12 + 66) / 2**12),  # 0.038574
        (6, 1, 0.125),  # symmetric
        (3, 3, 1.0),  # 2 * 42/64 > 1 -> capped
        (0, 0, 1.0),  # no discordant pairs
        (0, 5, 2 / 32),
    ],
)
def test_mcnemar_exact(b, c, p):
    r = mcnemar(b, c)
    assert r.method == "exact binomial" and r.statistic is None
    assert r.p_value == pytest.approx(p, rel=1e-12)


def test_mcnemar_chi_square():
    # b + c = 35 >= 25: (|10 - 25| - 1)^2 / 35 = 196 / 35 = 5.6; chi2(1) survival at 5.6 = 0.017961
    r = mcnemar(10, 25)
    assert r.method == "chi-square, continuity-corrected"
    assert r.statistic == pytest.approx(5.6)
    assert r.p_value == pytest.approx(0.0179612, abs=1e-6)
    # the threshold: 24 discordant pairs stay exact, 25 switch
    assert mcnemar(12, 12).method == "exact binomial"
    assert mcnemar(12, 13).statistic == pytest.approx(0.0)  # (1 - 1)^2 / 25
    assert mcnemar(12, 13).p_value == pytest.approx(1.0)


def test_paired_compare_uses_shared_ids_only():
    a = {"1": True, "2": True, "3": False, "4": False, "5": True, "x": True}
    b = {"1": True, "2": False, "3": True, "4": True, "5": True, "y": False}
    r = paired_compare(a, b)
    assert r["n_shared"] == 5 and r["only_in_a"] == 1 and r["only_in_b"] == 1
    assert r["acc_a"] == pytest.approx(3 / 5) and r["acc_b"] == pytest.approx(4 / 5)
    assert r["diff"] == pytest.approx(1 / 5)
    assert (r["a_right_b_wrong"], r["b_right_a_wrong"]) == (1, 2)
    # exact: n = 3, k = 1 -> 2 * (1 + 3) / 8 = 1.0
    assert r["mcnemar"]["p_value"] == pytest.approx(1.0)


def test_holm_bootstrap_and_percentile() -> None:
    from vlmctx_eval.harness.stats import bootstrap_mean_interval, holm, percentile_interval

    # Holm: sorted p 0.01, 0.02, 0.04 times 3, 2, 1 -> 0.03, 0.04, 0.04 (monotone), order kept
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert percentile_interval([float(i) for i in range(101)]) == pytest.approx((2.5, 97.5))
    values = [0.2, 0.4, 0.6, 0.8] * 10
    lo, hi = bootstrap_mean_interval(values)
    assert lo < 0.5 < hi and hi - lo < 0.25
    assert bootstrap_mean_interval(values) == (lo, hi)  # seeded

"""babybias.analysis.stats against hand-derived values and direct scipy calls."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from babybias.analysis.stats import (Interval, ItemRows, PairedDifference, aggregate_seeds, bootstrap_ci, estimate_effect,
                                     mean_interval, paired_bootstrap, resampled_item_effect)


def quiet(func, *args, **kwargs):
    """Call ``func`` with warnings silenced (small-n warnings are tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def test_bootstrap_ci_matches_scipy_with_the_same_seed():
    x = np.random.default_rng(3).normal(size=30)
    iv = bootstrap_ci(x, n_resamples=2000, seed=7)
    ref = stats.bootstrap((x,), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(7))
    assert iv.estimate == pytest.approx(x.mean())
    assert (iv.low, iv.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert (iv.n, iv.level, iv.method) == (30, 0.95, "bootstrap-BCa")
    assert bootstrap_ci(x, n_resamples=2000, seed=7) == iv  # seeded: reproducible


def test_bootstrap_ci_percentile_near_normal_theory():
    # Percentile bootstrap of a mean ≈ mean ± z · sd_pop/√n (the plug-in standard error).
    x = np.random.default_rng(0).normal(size=200)
    iv = bootstrap_ci(x, n_resamples=20000, method="percentile", seed=1)
    half = stats.norm.ppf(0.975) * np.std(x, ddof=0) / math.sqrt(x.size)
    assert iv.low == pytest.approx(x.mean() - half, abs=0.015)
    assert iv.high == pytest.approx(x.mean() + half, abs=0.015)


def test_bootstrap_ci_statistic_without_axis_and_constant_data():
    x = np.arange(12.0)
    iv = bootstrap_ci(x, statistic=lambda v: float(np.median(v)), n_resamples=500, seed=0)
    assert iv.estimate == 5.5 and iv.low < 5.5 < iv.high
    with pytest.warns(UserWarning, match="same statistic"):
        const = bootstrap_ci(np.full(12, 2.0), n_resamples=200)
    assert (const.low, const.high) == (2.0, 2.0)


def test_paired_bootstrap_hand_derived_exact_sign_flip_p_value():
    # Five items, every difference positive: of the 2**5 sign flips only all-plus and all-minus are
    # as extreme as observed, so the exact two-sided p-value is 2/32.
    a, b = [0, 0, 0, 0, 0], [1, 2, 3, 4, 5]
    res = quiet(paired_bootstrap, a, b)
    assert res.estimate == 3.0 and (res.statistic_a, res.statistic_b) == (0.0, 3.0)
    assert res.p_value == pytest.approx(2 / 32)
    assert res.p_method == "sign-flip permutation (exact)"
    assert 1 <= res.low < 3 < res.high <= 5


def test_paired_bootstrap_interval_matches_scipy_paired_bootstrap():
    rng = np.random.default_rng(5)
    a = rng.normal(size=40)
    b = a + 0.4 + rng.normal(scale=0.5, size=40)
    res = paired_bootstrap(a, b, n_resamples=3000, seed=11)
    ref = stats.bootstrap((b - a,), np.mean, n_resamples=3000, method="BCa", rng=np.random.default_rng(11))
    assert res.estimate == pytest.approx(np.mean(b - a))
    # Same items resampled either way; BCa from the same draws → the same interval.
    assert (res.low, res.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high),
                                                rel=1e-9)
    assert res.p_value < 0.001
    perm = stats.permutation_test((b - a,), np.mean, permutation_type="samples", n_resamples=3000,
                                  rng=np.random.default_rng(11))
    assert res.p_value == pytest.approx(perm.pvalue, abs=2 / 3001)


def test_paired_bootstrap_null_and_p_methods():
    rng = np.random.default_rng(9)
    a = rng.normal(size=50)
    b = a + rng.normal(scale=0.3, size=50)  # no shift
    for p_method in ("permutation", "bootstrap"):
        res = paired_bootstrap(a, b, n_resamples=2000, seed=0, p_method=p_method)
        assert res.p_value > 0.05 and res.low < 0 < res.high
    d = paired_bootstrap(a, b, n_resamples=500)
    assert isinstance(d, PairedDifference) and isinstance(d.interval, Interval)
    assert set(d.to_dict()) >= {"estimate", "low", "high", "p_value", "n", "method"}


def test_paired_bootstrap_statistic_is_difference_of_statistics():
    a = np.array([1.0, 5.0, 2.0, 8.0, 3.0, 9.0, 4.0, 7.0, 6.0, 0.0, 10.0])
    b = a[::-1] + 1
    res = paired_bootstrap(a, b, statistic=np.median, n_resamples=300)
    assert res.estimate == pytest.approx(np.median(b) - np.median(a))


@pytest.mark.parametrize("kwargs, match", [
    (dict(a=[1, 2, 3], b=[1, 2]), "equal lengths"),
    (dict(a=[1, 2, np.nan], b=[1, 2, 3]), "^a has 1 non-finite"),
    (dict(a=[1, 2, 3], b=[[1, 2, 3]]), "^b must be one-dimensional"),
    (dict(a=[1], b=[2]), "at least 2"),
    (dict(a=[1, 2, 3], b=[1, 2, 4], level=1.5), "level"),
    (dict(a=[1, 2, 3], b=[1, 2, 4], p_method="t"), "p_method"),
])
def test_paired_bootstrap_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        quiet(paired_bootstrap, **kwargs)


def test_small_n_warns():
    with pytest.warns(UserWarning, match="n=5"):
        bootstrap_ci([1.0, 2.0, 3.0, 4.0, 6.0], n_resamples=100)


def test_mean_interval_is_the_t_interval():
    x = [1.0, 2.0, 3.0]
    iv = mean_interval(x)
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # sd = 1 by hand
    assert (iv.estimate, iv.low, iv.high, iv.n, iv.method) == pytest.approx((2.0, 2 - half, 2 + half, 3, "t"))
    assert half == pytest.approx(2.4841377)
    with pytest.warns(UserWarning, match="single value"):
        one = mean_interval([0.7])
    assert one.estimate == 0.7 and math.isnan(one.low) and math.isnan(one.high)


def test_aggregate_seeds_table():
    df = pd.DataFrame({"corpus": ["base"] * 3 + ["cda"] * 3 + ["solo"],
                       "step": [1] * 7,
                       "seed": [0, 1, 2, 0, 1, 2, 0],
                       "value": [1.0, 2.0, 3.0, 10.0, 10.0, 10.0, 5.0]})
    with pytest.warns(UserWarning, match="single seed"):
        out = aggregate_seeds(df, by=["corpus", "step"])
    assert list(out.columns) == ["corpus", "step", "mean", "sd", "n", "low", "high", "level", "method"]
    rows = out.set_index("corpus")
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert rows.loc["base", ["mean", "sd", "n"]].tolist() == [2.0, 1.0, 3]
    assert rows.loc["base", "low"] == pytest.approx(2 - half) and rows.loc["base", "high"] == pytest.approx(2 + half)
    assert rows.loc["cda", ["mean", "sd", "low", "high"]].tolist() == [10.0, 0.0, 10.0, 10.0]
    assert rows.loc["solo", "n"] == 1 and rows.loc[["solo"], ["sd", "low", "high"]].isna().all(axis=None)
    overall = aggregate_seeds(df.iloc[:3])
    assert overall.loc[0, "mean"] == 2.0 and len(overall) == 1


@pytest.mark.parametrize("df, kwargs, match", [
    (pd.DataFrame({"value": [1.0]}), dict(by="corpus"), "lacks the column"),
    (pd.DataFrame({"value": [1.0, np.nan]}), {}, "non-finite"),
    (pd.DataFrame({"value": []}), {}, "no rows"),
    ([1, 2], {}, "DataFrame"),
])
def test_aggregate_seeds_validates(df, kwargs, match):
    with pytest.raises(ValueError, match=match):
        aggregate_seeds(df, **kwargs)


def test_resampled_item_effect_by_hand():
    """Medians of 5 items: the estimate is the seed-mean difference; one resample per call is aggregated once per
    cell whatever the key; identical cells give [0, 0] and p = 1; unequal item counts are refused."""
    calls = []

    def agg(rows):
        calls.append(len(rows))
        v = rows["v"].to_numpy()
        return {"median": float(np.median(v)), "max": float(v.max())}

    base = [pd.DataFrame({"v": [1.0, 2, 3, 4, 5]}), pd.DataFrame({"v": [1.0, 2, 3, 4, 7]})]
    cond = [pd.DataFrame({"v": [2.0, 3, 4, 5, 6]}), pd.DataFrame({"v": [2.0, 4, 4, 5, 9]})]
    caches = [{} for _ in range(4)]
    cells = lambda key: ([ItemRows(b, agg, key, c) for b, c in zip(base, caches)],  # noqa: E731
                         [ItemRows(x, agg, key, c) for x, c in zip(cond, caches[2:])])
    iv = resampled_item_effect(*cells("median"), n_resamples=50, seed=1)
    assert iv.estimate == pytest.approx((4 + 4) / 2 - (3 + 3) / 2) and iv.n == 5 and iv.low <= iv.estimate <= iv.high
    assert iv.statistic_a == pytest.approx(3.0) and iv.statistic_b == pytest.approx(4.0)
    n_calls = len(calls)
    assert n_calls == 4 * 51  # 4 cells × (the data + 50 resamples)
    resampled_item_effect(*cells("max"), n_resamples=50, seed=1)
    assert len(calls) == n_calls  # the other key reuses every aggregation
    same = resampled_item_effect([ItemRows(base[0], agg, "median")], [ItemRows(base[0].copy(), agg, "median")],
                                 n_resamples=50)
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="same items"):
        resampled_item_effect([ItemRows(base[0], agg, "median")], [ItemRows(base[0].iloc[:3], agg, "median")])
    effect = estimate_effect({0: 3.0, 1: 3.0}, {0: 4.0, 1: 4.0}, baseline_items=dict(enumerate(cells("median")[0])),
                             condition_items=dict(enumerate(cells("median")[1])), n_resamples=50)
    assert effect.items is not None and effect.items.estimate == pytest.approx(iv.estimate)


def test_strata_keep_their_sizes_and_a_prepared_resampler_is_used():
    """Items in strata (SEAT's sets) are drawn within each stratum; a resampler replaces re-aggregation; cells with
    other strata are refused; one cell's interval resamples the same way."""
    from babybias.analysis import resampled_item_interval

    rows = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 5, "v": [1.0, 2, 3, 10, 11, 12, 13, 14]})
    strata = rows["g"].to_numpy()
    agg = lambda r: {"gap": float(r.loc[r.g == "b", "v"].mean() - r.loc[r.g == "a", "v"].mean())}  # noqa: E731
    used = []

    def fast(index):
        used.append(index)
        return agg(rows.iloc[index])

    cell = ItemRows(rows, agg, "gap", strata=strata, resampler=fast)
    idx = cell.draw(np.random.default_rng(0))
    assert sorted(strata[idx]) == sorted(strata) and set(idx[:3]) <= {0, 1, 2}  # stratum a's 3 draws come from a
    iv = resampled_item_interval(cell, n_resamples=40, seed=2)
    assert len(used) == 40 and iv.estimate == pytest.approx(10.0) and iv.low <= 10.0 <= iv.high and iv.n == 8
    other = ItemRows(rows, agg, "gap", strata=np.array(["a"] * 4 + ["b"] * 4))
    with pytest.raises(ValueError, match="same strata"):
        resampled_item_effect([cell], [other], n_resamples=10)
    with pytest.raises(ValueError, match="same strata"):
        resampled_item_effect([cell], [ItemRows(rows, agg, "gap")], n_resamples=10)

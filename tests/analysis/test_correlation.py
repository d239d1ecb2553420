"""babybias.analysis.correlation: planted relations, pure-noise false-positive rate, scipy agreement, plots."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from babybias.analysis.correlation import Correlation, correlate, plot_correlation


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_recovers_a_planted_relation(method):
    rng = np.random.default_rng(0)
    x = rng.normal(size=25)
    y = 0.8 * x + 0.6 * rng.normal(size=25)  # population Pearson r = 0.8
    # Bivariate normal: population Spearman ρ = (6/π)·asin(r/2) ≈ 0.786.
    planted = 0.8 if method == "pearson" else 6 / math.pi * math.asin(0.4)
    c = correlate(x, y, method, n_resamples=2000, seed=1)
    assert c.p_value < 1e-3
    assert c.low < planted < c.high and c.low > 0.3
    assert c.low <= c.estimate <= c.high


def test_monotone_but_nonlinear_spearman_is_one():
    x = np.arange(1.0, 13.0)
    c = quiet(correlate, x, np.exp(x), "spearman", n_resamples=500)  # every resample ρ = 1: degenerate
    assert c.estimate == pytest.approx(1.0) and c.p_value < 1e-6
    assert correlate(x, np.exp(x), "pearson", n_resamples=500).estimate < 0.9


def test_pure_noise_false_positive_rate():
    # Seeded simulation: 200 repetitions of independent normal x, y with n drawn from 8..30.
    rng = np.random.default_rng(2026)
    above = {"pearson": 0, "spearman": 0}
    covers = {"pearson": 0, "spearman": 0}
    reps = 200
    for rep in range(reps):
        n = int(rng.integers(8, 31))
        x, y = rng.normal(size=n), rng.normal(size=n)
        for method in above:
            c = quiet(correlate, x, y, method, n_resamples=199, seed=rep)
            above[method] += c.p_value > 0.05
            covers[method] += c.low <= 0 <= c.high
    # Measured with this seed: pearson 0.95, spearman 0.94 (binomial sd at 200 reps ≈ 0.015).
    for method in above:
        assert above[method] / reps >= 0.92, (method, above[method] / reps)
        assert covers[method] / reps >= 0.88, (method, covers[method] / reps)


def test_matches_scipy_and_fisher_interval():
    rng = np.random.default_rng(4)
    x = rng.normal(size=15)
    y = x + rng.normal(size=15)
    c = correlate(x, y, n_resamples=300)
    ref = stats.pearsonr(x, y)
    fisher = ref.confidence_interval()
    assert (c.estimate, c.p_value) == pytest.approx((ref.statistic, ref.pvalue))
    assert (c.fisher_low, c.fisher_high) == pytest.approx((fisher.low, fisher.high))
    # Fisher z by hand: tanh(atanh(r) ± z / √(n − 3)).
    half = stats.norm.ppf(0.975) / math.sqrt(15 - 3)
    assert c.fisher_low == pytest.approx(math.tanh(math.atanh(c.estimate) - half))
    s = correlate(x, y, "spearman", n_resamples=300)
    sref = stats.spearmanr(x, y)
    assert (s.estimate, s.p_value) == pytest.approx((sref.statistic, sref.pvalue))
    assert math.isnan(s.fisher_low) and s.p_method.startswith("spearmanr")
    assert correlate(x, y, n_resamples=300) == c  # seeded: reproducible
    d = c.to_dict()
    assert d["method"] == "pearson" and d["n"] == 15 and c.interval.estimate == c.estimate


def test_spearman_with_ties_matches_scipy():
    x = [1, 2, 2, 3, 3, 3, 4, 5, 6, 6]
    y = [2, 1, 4, 3, 5, 5, 6, 6, 8, 7]
    assert correlate(x, y, "spearman", n_resamples=200).estimate == pytest.approx(stats.spearmanr(x, y).statistic)


def test_degenerate_resamples_fall_back_to_percentile():
    # n = 3 with a tie in x: many resamples have constant x (r undefined) and are dropped.
    with pytest.warns(UserWarning):
        c = correlate([0.0, 0.0, 1.0], [0.1, 0.3, 0.9], n_resamples=500)
    assert np.isfinite(c.low) and np.isfinite(c.high)


@pytest.mark.parametrize("args, kwargs, match", [
    (([1, 2, 3, 4], [1, 2, 3]), {}, "equal lengths"),
    (([1, 2], [1, 2]), {}, "^x needs at least 3"),
    (([1, 2, 3], [1, np.inf, 3]), {}, "^y has 1 non-finite"),
    (([1, 1, 1], [1, 2, 3]), {}, "^x is constant"),
    (([1, 2, 3], [1, 2, 4]), dict(method="kendall"), "method"),
])
def test_validates(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        quiet(correlate, *args, **kwargs)


def test_small_n_warns():
    with pytest.warns(UserWarning, match="n=5"):
        correlate([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], n_resamples=100)


def test_plot_correlation_writes_a_png(tmp_path):
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 12)
    y = 2 * x + rng.normal(scale=0.3, size=12)
    path = plot_correlation(x, y, tmp_path / "sub" / "corr.png", labels=[f"step {i}" for i in range(12)],
                            xlabel="ability", ylabel="bias", title="demo", n_resamples=200)
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    c = correlate(x, y, "spearman", n_resamples=200)
    path2 = plot_correlation(x, y, tmp_path / "given.png", result=c)
    assert path2.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="labels"):
        plot_correlation(x, y, tmp_path / "bad.png", labels=["a"], n_resamples=50)

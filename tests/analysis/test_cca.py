"""CCA alignment: planted relation found, pure noise not, exact permutation enumeration, warnings, errors, plot."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from babybias.analysis.cca import (CCAResult, CCASampleSizeWarning, canonical_correlations, cca_alignment, plot_cca,
                                   responses)


def planted(n: int, seed: int, noise: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """x and y (n methods × 3 metrics) sharing one latent: x.a ≈ z, y.c ≈ −z; the other columns are noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    methods = [f"m{i}" for i in range(n)]
    x = pd.DataFrame({"a": z + noise * rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)},
                     index=methods)
    y = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": -2 * z + noise * rng.normal(size=n)},
                     index=methods)
    return x, y


def quiet(*args, **kwargs) -> CCAResult:
    """cca_alignment with the sample-size warning silenced (the tests that need it check it separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CCASampleSizeWarning)
        return cca_alignment(*args, **kwargs)


def test_planted_relation_is_recovered() -> None:
    x, y = planted(30, seed=0)
    result = quiet(x, y, n_permutations=499, n_bootstrap=300, seed=1)
    assert result.rho1 > 0.9
    assert result.p_value < 0.01
    assert result.p_value == pytest.approx(1 / 500)  # no permutation reaches the observed ρ₁
    assert result.ci_low < result.rho1 < result.ci_high
    assert result.ci_high <= 1.0 and result.ci_low > 0.7
    # the first canonical pair loads on the planted columns
    assert result.x_loadings["CV1"].abs().idxmax() == "a"
    assert result.y_loadings["CV1"].abs().idxmax() == "c"
    assert abs(result.x_loadings.loc["a", "CV1"]) > 0.9 and abs(result.y_loadings.loc["c", "CV1"]) > 0.9


@pytest.mark.parametrize("n_methods", [10, 6], ids=["10-methods-199-random-permutations", "6-methods-all-720"])
def test_pure_noise_false_positive_rate(n_methods: int) -> None:
    """Seeded simulation: 200 pure-noise data sets (2 + 2 metrics), 199 random permutations each (or all n!)."""
    rng = np.random.default_rng(2024)
    p_values, rho1s = [], []
    for rep in range(200):
        x, y = rng.normal(size=(n_methods, 2)), rng.normal(size=(n_methods, 2))
        result = quiet(x, y, n_permutations=199 if n_methods > 6 else 720, n_bootstrap=0, seed=rep)
        assert result.exact == (n_methods == 6)
        p_values.append(result.p_value)
        rho1s.append(result.rho1)
    p_values = np.array(p_values)
    above = float(np.mean(p_values > 0.05))
    print(f"pure noise, {n_methods} methods: p > 0.05 in {above:.1%} of 200 repetitions; "
          f"median rho1 {np.median(rho1s):.3f}")
    assert above >= 0.93  # nominal 95 %; binomial SD over 200 repetitions is 1.5 points
    assert np.median(rho1s) > 0.5  # ρ₁ alone looks like "alignment" even for unrelated data


def test_small_n_enumerates_every_permutation_exactly() -> None:
    x, y = planted(6, seed=3, noise=0.1)
    x, y = x[["a"]], y[["c", "b"]]
    result = quiet(x, y, n_permutations=999, n_bootstrap=0)
    assert result.exact and result.n_permutations == 720 == len(result.null_distribution)
    brute = np.array([canonical_correlations(x.to_numpy(), y.to_numpy()[list(perm)])[0]
                      for perm in itertools.permutations(range(6))])
    np.testing.assert_allclose(np.sort(result.null_distribution), np.sort(brute), atol=1e-10)
    assert result.p_value == pytest.approx(np.mean(brute >= result.rho1 - 1e-10))
    assert result.p_value >= 1 / 720  # the identity is one of the permutations


def test_too_few_methods_warns_and_gives_rho1_one_and_p_one() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    with pytest.warns(CCASampleSizeWarning, match="exactly 1 for any data"):
        result = cca_alignment(x, y, n_bootstrap=50)
    assert result.rho1 == pytest.approx(1.0)
    assert result.p_value == pytest.approx(1.0)


def test_few_methods_per_metric_warns() -> None:
    rng = np.random.default_rng(6)
    with pytest.warns(CCASampleSizeWarning, match="fewer than 10 methods per metric"):
        cca_alignment(rng.normal(size=(12, 2)), rng.normal(size=(12, 2)), n_permutations=20, n_bootstrap=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CCASampleSizeWarning)
        cca_alignment(rng.normal(size=(40, 2)), rng.normal(size=(40, 2)), n_permutations=20, n_bootstrap=0)


def test_constant_or_missing_column_raises_naming_it() -> None:
    x, y = planted(12, seed=7)
    with pytest.raises(ValueError, match="y column 'b' is constant"):
        quiet(x, y.assign(b=0.5))
    with pytest.raises(ValueError, match="x column 'c' has missing"):
        quiet(x.assign(c=[np.nan] + [1.0] * 11), y)


def test_methods_matched_by_index_and_mismatch_rejected() -> None:
    x, y = planted(12, seed=8)
    aligned = quiet(x, y, n_permutations=50, n_bootstrap=20, seed=0)
    shuffled = quiet(x, y.iloc[::-1], n_permutations=50, n_bootstrap=20, seed=0)
    assert shuffled.rho1 == pytest.approx(aligned.rho1)
    assert shuffled.p_value == aligned.p_value
    with pytest.raises(ValueError, match="only in y"):
        quiet(x, y.rename(index={"m0": "other"}))
    with pytest.raises(ValueError, match="12 methods"):
        quiet(x.to_numpy(), y.to_numpy()[:11])


def test_sklearn_correlations_match_exact_and_are_scale_invariant() -> None:
    x, y = planted(15, seed=9)
    result = quiet(x, y, n_permutations=10, n_bootstrap=0)
    exact = canonical_correlations(x, y)
    np.testing.assert_allclose(result.correlations, exact[:3], atol=1e-5)
    assert result.rho1 == pytest.approx(exact[0])
    rescaled = canonical_correlations(x * [1000.0, 0.001, 3.0] + 7.0, y * [0.1, 50.0, 2.0])
    np.testing.assert_allclose(rescaled, exact, atol=1e-10)


def test_seeded_results_are_reproducible() -> None:
    x, y = planted(12, seed=10, noise=1.0)
    a, b = quiet(x, y, seed=3, n_bootstrap=100), quiet(x, y, seed=3, n_bootstrap=100)
    assert (a.p_value, a.ci_low, a.ci_high) == (b.p_value, b.ci_low, b.ci_high)
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert 0 <= a.ci_low <= a.ci_high <= 1


def test_responses_subtracts_the_undebiased_row() -> None:
    scores = pd.DataFrame({"crows": [60.0, 55.0, 58.0], "blimp": [70.0, 69.0, 71.0]}, index=["base", "cda", "dropout"])
    delta = responses(scores, "base")
    assert list(delta.index) == ["cda", "dropout"]
    assert delta.loc["cda", "crows"] == -5.0 and delta.loc["dropout", "blimp"] == 1.0
    with pytest.raises(ValueError, match="baseline 'none'"):
        responses(scores, "none")


def test_plot_written_and_to_dict_is_json(tmp_path) -> None:
    x, y = planted(14, seed=11)
    result = quiet(x, y, n_permutations=200, n_bootstrap=100)
    path = plot_cca(result, tmp_path / "sub" / "cca.png")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    d = json.loads(json.dumps(result.to_dict()))
    assert d["rho1"] == pytest.approx(result.rho1) and len(d["null_distribution"]) == 200
    assert set(d["x_loadings"]) == {"a", "b", "c"}
    with pytest.raises(Exception):
        result.rho1 = 0.0  # frozen

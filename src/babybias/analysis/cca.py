"""CCA alignment of two model families' responses to the same debiasing methods, with a permutation test and bootstrap.

Rows are debiasing methods (the same methods, in any order, for both families); columns are the
metrics of each family, each the change versus that family's undebiased model (see ``responses``).
With few methods the first canonical correlation is close to 1 even for unrelated data — it is
exactly 1 whenever ``n_methods <= p + q`` — so ρ₁ alone says nothing: ``cca_alignment`` tests it
against the distribution it has when the pairing of methods is shuffled. See docs/analysis.md.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..helpers.figures import new_figure, save_figure
from .stats import LEVEL, no_spread

__all__ = [
    "CCAResult",
    "CCASampleSizeWarning",
    "canonical_correlations",
    "cca_alignment",
    "plot_cca",
    "responses",
]

# Observations per variable below which CCA's correlations and loadings are commonly called unstable
# (rule of thumb, e.g. Stevens, "Applied Multivariate Statistics for the Social Sciences": ~10 per variable).
CASES_PER_VARIABLE = 10
_TIE_TOL = 1e-10  # ρ* within this of the observed ρ₁ counts as "at least as large" (float noise in ties)


class CCASampleSizeWarning(UserWarning):
    """Too few methods (rows) for the number of metrics (columns): ρ₁ is inflated or identically 1."""


@dataclass(frozen=True)
class CCAResult:
    """Canonical correlations of two families' responses, the permutation p-value and bootstrap interval of ρ₁."""

    correlations: np.ndarray  # ρ_1 ≥ … ≥ ρ_k: correlations of scikit-learn's paired canonical variates
    rho1: float  # first canonical correlation (exact, SVD), the statistic tested
    p_value: float  # permutation p-value of rho1 (rows of y shuffled relative to x)
    ci_low: float  # bootstrap percentile interval of rho1 (methods resampled jointly)
    ci_high: float
    n_methods: int
    n_permutations: int  # permutations behind the p-value (n! when enumerated exactly)
    null_distribution: np.ndarray  # ρ₁ under each permutation
    x_loadings: pd.DataFrame  # structure correlations: corr(metric of x, canonical variate of x), metrics × CV1..CVk
    y_loadings: pd.DataFrame
    exact: bool = False  # True when every permutation of the methods was enumerated
    confidence: float = LEVEL
    n_bootstrap: int = 0
    bootstrap_distribution: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (arrays as lists, loadings as {metric: {component: value}})."""
        return {
            "correlations": [float(v) for v in self.correlations],
            "rho1": float(self.rho1),
            "p_value": float(self.p_value),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "confidence": float(self.confidence),
            "n_methods": int(self.n_methods),
            "n_permutations": int(self.n_permutations),
            "exact": bool(self.exact),
            "n_bootstrap": int(self.n_bootstrap),
            "null_distribution": [float(v) for v in self.null_distribution],
            "x_loadings": {str(r): {str(c): float(v) for c, v in row.items()} for r, row in self.x_loadings.iterrows()},
            "y_loadings": {str(r): {str(c): float(v) for c, v in row.items()} for r, row in self.y_loadings.iterrows()},
        }


def responses(scores: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Change of every metric versus the ``baseline`` (undebiased) row; the baseline row itself is dropped."""
    if baseline not in scores.index:
        raise ValueError(f"baseline {baseline!r} is not a row of the scores (rows: {list(scores.index)})")
    return scores.drop(index=baseline) - scores.loc[baseline]


def _as_frame(data: pd.DataFrame | np.ndarray, prefix: str) -> pd.DataFrame:
    """A float DataFrame from a DataFrame or a 2-D array (columns named ``prefix0``, ``prefix1`` …)."""
    if isinstance(data, pd.DataFrame):
        frame = data.astype(float)
    else:
        array = np.asarray(data, dtype=float)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2:
            raise ValueError(f"{prefix}: expected a 2-D array (methods × metrics), got shape {array.shape}")
        frame = pd.DataFrame(array, columns=[f"{prefix}{j}" for j in range(array.shape[1])])
    if frame.shape[1] == 0:
        raise ValueError(f"{prefix}: no metric columns")
    return frame


def _check(frame: pd.DataFrame, name: str) -> None:
    """Raise a ValueError naming the first missing or constant column (a constant column has no variance to align)."""
    for column in frame.columns:
        values = frame[column].to_numpy()
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} column {column!r} has missing or infinite values")
        if no_spread(values):
            raise ValueError(f"{name} column {column!r} is constant across methods; CCA needs variation in every "
                             "column (drop it)")


def _align(x: pd.DataFrame | np.ndarray, y: pd.DataFrame | np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both inputs as frames with rows in the same method order (DataFrames are matched by index)."""
    xf, yf = _as_frame(x, "x"), _as_frame(y, "y")
    if isinstance(x, pd.DataFrame) and isinstance(y, pd.DataFrame):
        if not xf.index.is_unique or not yf.index.is_unique:
            raise ValueError("method index must be unique in x and y")
        missing_y, missing_x = xf.index.difference(yf.index), yf.index.difference(xf.index)
        if len(missing_x) or len(missing_y):
            raise ValueError(f"x and y must hold the same methods; only in x: {list(missing_y)}, "
                             f"only in y: {list(missing_x)}")
        yf = yf.loc[xf.index]
    elif len(xf) != len(yf):
        raise ValueError(f"x has {len(xf)} methods (rows) but y has {len(yf)}")
    else:
        yf = yf.set_axis(xf.index, axis=0)
    if len(xf) < 3:
        raise ValueError(f"CCA needs at least 3 methods (rows); got {len(xf)}")
    _check(xf, "x")
    _check(yf, "y")
    return xf, yf


def _basis(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of the column-centred ``a`` (rank-deficient columns dropped)."""
    centred = a - a.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    if s.size == 0 or s[0] <= 0:
        return u[:, :0]
    return u[:, s > s[0] * 1e-10]


def canonical_correlations(x: pd.DataFrame | np.ndarray, y: pd.DataFrame | np.ndarray) -> np.ndarray:
    """All canonical correlations (descending), exactly: singular values of Qxᵀ Qy for orthonormal bases of the centred data."""
    qx, qy = _basis(np.asarray(x, dtype=float)), _basis(np.asarray(y, dtype=float))
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return np.zeros(0)
    return np.clip(np.linalg.svd(qx.T @ qy, compute_uv=False), 0.0, 1.0)


def _rho1(qx: np.ndarray, qy: np.ndarray) -> float:
    """Largest canonical correlation from two orthonormal bases."""
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return 0.0
    return float(min(1.0, np.linalg.norm(qx.T @ qy, ord=2)))


def _permuted_rho1(qx: np.ndarray, qy: np.ndarray, perms: np.ndarray, batch: int = 4096) -> np.ndarray:
    """ρ₁ with the rows of ``qy`` reordered by each row of ``perms`` (batched spectral norms of Qxᵀ Qy[perm])."""
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return np.zeros(len(perms))
    out = [np.linalg.norm(np.einsum("ni,bnj->bij", qx, qy[chunk]), ord=2, axis=(1, 2))
           for chunk in np.array_split(perms, max(1, -(-len(perms) // batch)))]
    return np.clip(np.concatenate(out), 0.0, 1.0)


def _sample_size_warning(n: int, p: int, q: int) -> None:
    """Warn (CCASampleSizeWarning) when there are too few methods for the number of metrics."""
    if n <= p + q:
        warnings.warn(
            f"CCA with {n} methods and {p} + {q} metrics: with n_methods <= p + q the first canonical correlation is "
            "exactly 1 for any data (the two column spaces must intersect), so rho1 carries no information and the "
            f"permutation p-value is 1. Use fewer metrics (at most {n - 1} in total) or more methods.",
            CCASampleSizeWarning, stacklevel=3)
    elif n < CASES_PER_VARIABLE * (p + q):
        warnings.warn(
            f"CCA with {n} methods and {p} + {q} metrics: fewer than {CASES_PER_VARIABLE} methods per metric, so rho1 "
            "is strongly inflated even for unrelated data (read it only with the permutation p-value) and the "
            "loadings and bootstrap interval are unstable.",
            CCASampleSizeWarning, stacklevel=3)


def _sklearn_fit(xf: pd.DataFrame, yf: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn CCA (columns standardised): correlations of the paired variates and the variates themselves."""
    from sklearn.cross_decomposition import CCA
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = CCA(n_components=k, scale=True, max_iter=5000, tol=1e-10).fit(xf.to_numpy(), yf.to_numpy())
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            warnings.warn(f"scikit-learn's iterative CCA did not converge ({w.message}); the canonical variates and "
                          "loadings may be inaccurate (rho1 and the p-value are computed exactly and are not affected)",
                          RuntimeWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    xs, ys = model.transform(xf.to_numpy(), yf.to_numpy())
    corr = np.array([_corr(xs[:, i], ys[:, i]) for i in range(k)])
    # sign is arbitrary per component; a canonical correlation is reported as non-negative
    signs = np.where(corr < 0, -1.0, 1.0)
    return np.abs(corr), xs, ys * signs


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation, 0 when either side is constant."""
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else 0.0


def _structure(frame: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    """Correlation of every original column with every canonical variate (metrics × CV1..CVk)."""
    values = [[_corr(frame[c].to_numpy(), scores[:, i]) for i in range(scores.shape[1])] for c in frame.columns]
    return pd.DataFrame(values, index=frame.columns, columns=[f"CV{i + 1}" for i in range(scores.shape[1])])


def cca_alignment(x: pd.DataFrame | np.ndarray, y: pd.DataFrame | np.ndarray, *, n_permutations: int = 999,
                  n_bootstrap: int = 1000, confidence: float = LEVEL, seed: int = 0) -> CCAResult:
    """Canonical correlations of ``x`` and ``y`` (rows = methods), a permutation test and a bootstrap interval for ρ₁."""
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    xf, yf = _align(x, y)
    n, p, q = len(xf), xf.shape[1], yf.shape[1]
    _sample_size_warning(n, p, q)
    k = min(p, q, n - 1)
    rng = np.random.default_rng(seed)

    correlations, xs, ys = _sklearn_fit(xf, yf, k)
    xa, ya = xf.to_numpy(), yf.to_numpy()
    qx, qy = _basis(xa), _basis(ya)
    rho1 = _rho1(qx, qy)
    if abs(rho1 - correlations[0]) > 1e-3:
        warnings.warn(f"scikit-learn's first canonical correlation ({correlations[0]:.6f}) differs from the exact "
                      f"one ({rho1:.6f}); the loadings may not belong to the first canonical pair", RuntimeWarning,
                      stacklevel=2)

    # Permutation test: the pairing of methods is shuffled; centring is permutation-invariant, so Qy's rows are too.
    exact = math.factorial(n) <= n_permutations
    if exact:
        null = _permuted_rho1(qx, qy, np.array(list(itertools.permutations(range(n)))))
        p_value = float(np.mean(null >= rho1 - _TIE_TOL))  # identity included: the exact permutation p-value
    else:
        null = _permuted_rho1(qx, qy, np.array([rng.permutation(n) for _ in range(n_permutations)]))
        p_value = float((1 + np.sum(null >= rho1 - _TIE_TOL)) / (1 + n_permutations))

    # Bootstrap: methods resampled jointly (same rows of x and y); percentile interval.
    boot = np.array([_rho1(_basis(xa[idx]), _basis(ya[idx]))
                     for idx in (rng.integers(0, n, size=n) for _ in range(n_bootstrap))])
    alpha = 1 - confidence
    ci_low, ci_high = ((float(np.quantile(boot, alpha / 2)), float(np.quantile(boot, 1 - alpha / 2)))
                       if n_bootstrap else (float("nan"), float("nan")))
    return CCAResult(correlations=correlations, rho1=rho1, p_value=p_value, ci_low=ci_low, ci_high=ci_high,
                     n_methods=n, n_permutations=len(null), null_distribution=null,
                     x_loadings=_structure(xf, xs), y_loadings=_structure(yf, ys), exact=exact,
                     confidence=confidence, n_bootstrap=n_bootstrap, bootstrap_distribution=boot)


def plot_cca(result: CCAResult, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG: histogram of ρ₁ under permutation with the observed ρ₁ and its bootstrap interval marked."""
    fig, ax = new_figure(figsize=(6, 4))  # no pyplot: no global backend or figure state
    bins = np.linspace(0.0, 1.0, 41)
    ax.hist(result.null_distribution, bins=bins, color="0.7", edgecolor="0.4",
            label=f"ρ₁ with methods shuffled ({'all' if result.exact else result.n_permutations} "
                  f"{'permutations' if result.exact else 'random permutations'})")
    if np.isfinite(result.ci_low) and np.isfinite(result.ci_high):
        ax.axvspan(result.ci_low, result.ci_high, color="tab:red", alpha=0.15,
                   label=f"bootstrap {result.confidence:.0%} interval [{result.ci_low:.3f}, {result.ci_high:.3f}]")
    ax.axvline(result.rho1, color="tab:red", lw=2, label=f"observed ρ₁ = {result.rho1:.3f} (p = {result.p_value:.3g})")
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("first canonical correlation ρ₁")
    ax.set_ylabel("permutations")
    ax.set_title(title or f"CCA alignment, {result.n_methods} methods")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)

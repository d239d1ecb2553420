"""Linear projections for post-model debiasing: INLP (Ravfogel et al. 2020) and Sent-Debias (Liang et al. 2020).

Both methods end in a d×d orthogonal projection P applied to every hidden state before the LM head
(h ← P h; P is symmetric, so for row vectors ``h @ P``). The maths follows bias-bench
(McGill-NLP/bias-bench) and nullspace_projection (shauli-ravfogel/nullspace_projection):

- INLP: P_R(W) = B Bᵀ with B an orthonormal basis of Wᵀ's column space (W: classifier weights as
  rows); after classifiers W₁…Wₙ, P = I − P_R(Σᵢ P_R(Wᵢ)), the projection onto ∩ᵢ N(Wᵢ)
  (Ben-Israel's intersection formula; stable even when the Wᵢ are not exactly orthogonal).
- Sent-Debias: centre each counterfactual pair on its own mean, stack, PCA; the bias subspace is
  the first k components V (k×d, orthonormal rows) and P = I − VᵀV, i.e. h ← h − Σ (h·v)v.

Everything here is pure numpy / scikit-learn, float64, with no global state; randomness (only
the classifier's) is seeded explicitly. See docs/debias.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

__all__ = [
    "BIAS_BENCH_TRAIN_SCALE",
    "INLPResult",
    "apply_projection",
    "inlp",
    "nullspace_projection",
    "rowspace_projection",
    "sent_debias_subspace",
    "subspace_removal",
]


def _as_matrix(x: Any, name: str) -> np.ndarray:
    """``x`` as a finite, non-empty float64 2-D array; ValueError naming ``name`` otherwise."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_labels(y: Any, n: int, name: str) -> np.ndarray:
    """``y`` as a 1-D label array of length ``n``; ValueError naming ``name`` otherwise."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} labels but its features have {n} rows")
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _rowspace_basis(W: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d×r) of W's rowspace; empty (d×0) when W is all (close to) zero, as in bias-bench."""
    if np.allclose(W, 0.0):
        return np.zeros((W.shape[1], 0))
    return scipy.linalg.orth(W.T)


def rowspace_projection(W: np.ndarray) -> np.ndarray:
    """P_R(W) = B Bᵀ, the orthogonal projection onto W's rowspace (W: k×d, rows = classifier weights), rank-safe."""
    W = _as_matrix(np.atleast_2d(W), "W")
    B = _rowspace_basis(W)
    return B @ B.T


def _check_projections(rowspace_projections: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The projections as float64 d×d arrays of one common d; ValueError naming the argument otherwise."""
    if len(rowspace_projections) == 0:
        raise ValueError("rowspace_projections must contain at least one projection")
    mats = [_as_matrix(p, f"rowspace_projections[{i}]") for i, p in enumerate(rowspace_projections)]
    d = mats[0].shape[0]
    for i, m in enumerate(mats):
        if m.shape != (d, d):
            raise ValueError(f"rowspace_projections[{i}] must have shape ({d}, {d}), got {m.shape}")
    return mats


def nullspace_projection(rowspace_projections: Sequence[np.ndarray]) -> np.ndarray:
    """P = I − P_R(Σᵢ P_R(Wᵢ)): the projection onto the intersection of the classifiers' nullspaces (Ben-Israel)."""
    mats = _check_projections(rowspace_projections)
    Q = np.sum(mats, axis=0)
    return np.eye(Q.shape[0]) - rowspace_projection(Q)


@dataclass(frozen=True)
class INLPResult:
    """INLP's final projection P (d×d, symmetric, idempotent) and a per-iteration log of what was removed."""

    projection: np.ndarray  # P = I − P_R(Σᵢ P_R(Wᵢ)) over the removed classifiers; apply as h @ P
    # One dict per fitted classifier: iteration (0-based), rank_removed (rank of Σᵢ P_R(Wᵢ) after
    # this iteration; unchanged when not removed), dev_accuracy (this classifier on the dev data
    # projected by the P in force when it was fitted, i.e. before its own removal), majority_rate
    # (dev share of the most frequent class) and removed (False only for the one that stopped the loop).
    history: list[dict[str, Any]] = field(default_factory=list)
    n_iterations: int = 0  # classifiers whose rowspace was removed

    def to_frame(self) -> pd.DataFrame:
        """The history as a DataFrame, one row per fitted classifier, for plotting or logging."""
        columns = ["iteration", "rank_removed", "dev_accuracy", "majority_rate", "removed"]
        return pd.DataFrame(self.history, columns=columns)


#: bias-bench's ``get_debiasing_projection`` (bias_bench/debias/inlp/debias.py) multiplies the training
#: features by ``dropout_scale = 1 / (1 - dropout_rate + 1e-6)`` even at its dropout_rate 0.
BIAS_BENCH_TRAIN_SCALE = 1.0 / (1 - 0 + 1e-6)


def _default_classifier(seed: int) -> Any:
    """bias-bench's INLP classifier: LinearSVC(fit_intercept=False, dual=False, random_state=seed), C = 1."""
    from sklearn.svm import LinearSVC

    return LinearSVC(C=1.0, fit_intercept=False, dual=False, random_state=seed)


def inlp(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_dev: np.ndarray,
    y_dev: np.ndarray,
    n_iterations: int = 80,
    classifier_factory: Callable[[], Any] | None = None,
    seed: int = 0,
    min_accuracy: float | None = None,
    train_scale: float = BIAS_BENCH_TRAIN_SCALE,
) -> INLPResult:
    """Iterative nullspace projection: repeatedly fit a linear classifier of y on X @ P and project out its rowspace.

    ``classifier_factory()`` must return a fresh scikit-learn-style classifier with ``fit``,
    ``score`` and, after fitting, ``coef_`` (k×d; binary problems give 1×d); by default
    bias-bench's ``LinearSVC(fit_intercept=False, dual=False, random_state=seed)``. The loop stops
    early when ``min_accuracy`` is given and a classifier's dev accuracy falls below it (that
    classifier is not removed; bias-bench skips it and continues, which with a deterministic
    classifier only refits the same one), or when a classifier's weights are all zero (nothing
    left to remove). Each classifier is fitted on ``(X_train @ P) * train_scale``, as bias-bench's
    dropout-free "dropout" mask does (:data:`BIAS_BENCH_TRAIN_SCALE`; 1.0 fits on the projected features as
    they are); dev accuracy is read on ``X_dev @ P`` unscaled, as there.
    """
    X_train = _as_matrix(X_train, "X_train")
    X_dev = _as_matrix(X_dev, "X_dev")
    y_train = _as_labels(y_train, X_train.shape[0], "y_train")
    y_dev = _as_labels(y_dev, X_dev.shape[0], "y_dev")
    d = X_train.shape[1]
    if X_dev.shape[1] != d:
        raise ValueError(f"X_dev has {X_dev.shape[1]} features but X_train has {d}")
    if np.unique(y_train).size < 2:
        raise ValueError("y_train must contain at least 2 classes")
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, (int, np.integer)) or n_iterations < 1:
        raise ValueError(f"n_iterations must be an integer >= 1, got {n_iterations!r}")
    if min_accuracy is not None and not (0.0 <= float(min_accuracy) <= 1.0):
        raise ValueError(f"min_accuracy must be in [0, 1] or None, got {min_accuracy!r}")
    if not (np.isfinite(train_scale) and train_scale > 0):
        raise ValueError(f"train_scale must be a finite number > 0, got {train_scale!r}")
    if classifier_factory is None:
        def classifier_factory() -> Any:
            return _default_classifier(seed)

    _, counts = np.unique(y_dev, return_counts=True)
    majority_rate = float(counts.max() / counts.sum())

    P = np.eye(d)
    rowspaces: list[np.ndarray] = []
    rank_removed = 0
    history: list[dict[str, Any]] = []
    for it in range(int(n_iterations)):
        clf = classifier_factory()
        clf.fit((X_train @ P) * train_scale, y_train)
        acc = float(clf.score(X_dev @ P, y_dev))
        W = np.atleast_2d(np.asarray(clf.coef_, dtype=np.float64))
        if W.shape[1] != d:
            raise ValueError(f"classifier_factory's classifier has coef_ of shape {W.shape}; expected (k, {d})")
        stop = (min_accuracy is not None and acc < min_accuracy) or np.allclose(W, 0.0)
        if not stop:
            rowspaces.append(rowspace_projection(W))
            B = _rowspace_basis(np.sum(rowspaces, axis=0))
            rank_removed = B.shape[1]
            P = np.eye(d) - B @ B.T  # = nullspace_projection(rowspaces), sharing the basis for the rank
        history.append({"iteration": it, "rank_removed": rank_removed, "dev_accuracy": acc,
                        "majority_rate": majority_rate, "removed": not stop})
        if stop:
            break
    return INLPResult(projection=P, history=history, n_iterations=len(rowspaces))


def sent_debias_subspace(a: np.ndarray, b: np.ndarray, k: int = 1) -> np.ndarray:
    """Sent-Debias bias subspace (k×d, orthonormal rows): PCA of counterfactual pairs each centred on its own mean.

    ``a[i]`` and ``b[i]`` are the (already L2-normalised) representations of the i-th sentence and
    its counterfactual. Rows a−m and b−m (m = (a+b)/2) are stacked into a 2n×d matrix. PCA centres
    its columns before the SVD, but here each column already sums to zero (a−m = −(b−m)), so that
    centring is a no-op and the components are the top right singular vectors of the stacked
    matrix (signs are arbitrary, as in any PCA). bias-bench uses k = 1.
    """
    from sklearn.decomposition import PCA

    a = _as_matrix(a, "a")
    b = _as_matrix(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    n, d = a.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise ValueError(f"k must be an integer with 1 <= k <= d = {d}, got {k!r}")
    if k > 2 * n:
        raise ValueError(f"k must be at most 2n = {2 * n} (the number of stacked rows), got {k}")
    m = (a + b) / 2.0
    stacked = np.concatenate([a - m, b - m], axis=0)
    pca = PCA(n_components=int(k), svd_solver="full")
    pca.fit(stacked)
    return np.asarray(pca.components_, dtype=np.float64)


def subspace_removal(V: np.ndarray) -> np.ndarray:
    """I − Vᵀ(V Vᵀ)⁻¹V (d×d): removes span(rows of V), i.e. h ← h − Σ (h·v)v for orthonormal V; rank-safe."""
    V = _as_matrix(np.atleast_2d(V), "V")
    if np.allclose(V, 0.0):
        raise ValueError("V must have at least one non-zero row")
    return np.eye(V.shape[1]) - rowspace_projection(V)


def apply_projection(h: np.ndarray, P: np.ndarray) -> np.ndarray:
    """h @ P for states of shape (..., d): h ← P h on every row (P symmetric), e.g. at all positions before the LM head."""
    P = _as_matrix(P, "P")
    if P.shape[0] != P.shape[1]:
        raise ValueError(f"P must be square, got shape {P.shape}")
    h = np.asarray(h)
    if h.ndim < 1 or h.shape[-1] != P.shape[0]:
        raise ValueError(f"h must have last dimension {P.shape[0]}, got shape {h.shape}")
    if np.issubdtype(h.dtype, np.floating):
        return h @ P.astype(h.dtype, copy=False)  # keep the states' precision (float32 stays float32)
    return h @ P

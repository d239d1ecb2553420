"""Tests of the INLP and Sent-Debias projections against hand-derived cases and synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from babybias.debias.projections import (
    INLPResult,
    apply_projection,
    inlp,
    nullspace_projection,
    rowspace_projection,
    sent_debias_subspace,
    subspace_removal,
)

D = 16
CLASS_SHARES = [0.5, 0.3, 0.2]  # imbalanced, so "no information" means "majority-class accuracy"


def _planted(seed: int):
    """Sampler of 3-class data in R^16 whose labels live in a random 2-D plane (means on a circle) plus N(0, I) noise."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))  # random rotation: signal not axis-aligned
    angles = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
    means = np.zeros((3, D))
    means[:, 0], means[:, 1] = 3 * np.cos(angles), 3 * np.sin(angles)

    def sample(n: int):
        y = rng.choice(3, size=n, p=CLASS_SHARES)
        return (means[y] + rng.standard_normal((n, D))) @ Q.T, y

    return sample, Q[:, :2]


@pytest.fixture(scope="module")
def planted():
    """Train / dev / held-out test splits of the planted data, the signal plane, and INLP's result (3 iterations)."""
    sample, plane = _planted(seed=0)
    splits = {"train": sample(2000), "dev": sample(1000), "test": sample(3000)}
    result = inlp(*splits["train"], *splits["dev"], n_iterations=3, seed=0)
    return splits, plane, result


# --- rowspace / nullspace: hand-derived cases -------------------------------------------------------------


def test_rowspace_single_axis_classifier():
    np.testing.assert_allclose(rowspace_projection(np.array([[1.0, 0.0, 0.0]])), np.diag([1.0, 0.0, 0.0]), atol=1e-12)
    P = nullspace_projection([rowspace_projection(np.array([[1.0, 0.0, 0.0]]))])
    np.testing.assert_allclose(P, np.diag([0.0, 1.0, 1.0]), atol=1e-12)


def test_rowspace_scale_invariant_and_oblique_direction():
    # w = (1, 1, 0) * 5: P_R = w wᵀ / |w|² = [[.5, .5, 0], [.5, .5, 0], [0, 0, 0]] whatever the scale
    expected = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(rowspace_projection(np.array([[5.0, 5.0, 0.0]])), expected, atol=1e-12)
    np.testing.assert_allclose(rowspace_projection(np.array([5.0, 5.0, 0.0])), expected, atol=1e-12)  # 1-D W


def test_nullspace_of_two_orthogonal_classifiers():
    w1 = np.array([[1.0, 1.0, 0.0, 0.0]])
    w2 = np.array([[1.0, -1.0, 0.0, 0.0]])
    P = nullspace_projection([rowspace_projection(w1), rowspace_projection(w2)])
    np.testing.assert_allclose(P, np.diag([0.0, 0.0, 1.0, 1.0]), atol=1e-12)


def test_nullspace_of_overlapping_classifiers_is_intersection_not_sum():
    # Both contain e1; the plain I − ΣP_R would give a non-projection with a −1 eigenvalue.
    P1 = rowspace_projection(np.array([[1.0, 0.0, 0.0]]))
    P2 = rowspace_projection(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    P = nullspace_projection([P1, P2])
    np.testing.assert_allclose(P, np.diag([0.0, 0.0, 1.0]), atol=1e-12)


def test_rank_deficient_and_zero_weights():
    # Rows 2 = 2 × row 1 and row 3 = row 1 + row 2' (rank 2): rowspace is span(e1 + e2, e3)
    W = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0], [1.0, 1.0, 3.0]])
    P = rowspace_projection(W)
    expected = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(P, expected, atol=1e-12)
    assert np.isclose(np.trace(P), 2.0)
    np.testing.assert_allclose(nullspace_projection([P]) @ np.array([1.0, -1.0, 0.0]), [1.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_array_equal(rowspace_projection(np.zeros((2, 3))), np.zeros((3, 3)))


# --- INLP -------------------------------------------------------------------------------------------------


def test_inlp_removes_planted_information(planted):
    splits, _, result = planted
    (X_tr, y_tr), (X_te, y_te) = splits["train"], splits["test"]
    majority = np.bincount(y_te).max() / len(y_te)
    P = result.projection
    before = LogisticRegression(max_iter=1000).fit(X_tr, y_tr).score(X_te, y_te)
    after = LogisticRegression(max_iter=1000).fit(X_tr @ P, y_tr).score(X_te @ P, y_te)
    assert before > majority + 0.3  # the data did carry the labels
    assert abs(after - majority) <= 0.02
    assert result.history[-1]["rank_removed"] < D  # not the trivial P = 0


def test_inlp_projection_is_symmetric_idempotent_and_kills_signal_plane(planted):
    _, plane, result = planted
    P = result.projection
    assert isinstance(result, INLPResult) and P.shape == (D, D)
    np.testing.assert_allclose(P, P.T, atol=1e-6)
    np.testing.assert_allclose(P @ P, P, atol=1e-6)
    assert np.isclose(np.trace(P), D - result.history[-1]["rank_removed"], atol=1e-6)
    assert np.linalg.norm(plane.T @ P) < 0.1  # the planted plane is (nearly) in P's nullspace


def test_inlp_history(planted):
    splits, _, result = planted
    frame = result.to_frame()
    assert list(frame["iteration"]) == [0, 1, 2] and result.n_iterations == 3
    ranks = list(frame["rank_removed"])
    assert all(b > a for a, b in zip(ranks, ranks[1:])) and ranks[0] >= 2
    y_dev = splits["dev"][1]
    majority = np.bincount(y_dev).max() / len(y_dev)
    assert np.allclose(frame["majority_rate"], majority)
    assert frame["dev_accuracy"].iloc[0] > majority + 0.3
    assert frame["dev_accuracy"].iloc[1] < majority + 0.05  # after the first removal little is left
    assert frame["removed"].all()


def test_inlp_stops_on_zero_weights_and_on_min_accuracy():
    sample, _ = _planted(seed=1)
    X_tr, y_tr = sample(600)
    X_dv, y_dv = sample(300)
    full = inlp(X_tr[:, :4], y_tr, X_dv[:, :4], y_dv, n_iterations=80)  # d = 4: P reaches 0, then W = 0
    assert full.n_iterations < 80 and not full.history[-1]["removed"]
    assert full.history[-1]["rank_removed"] == 4
    np.testing.assert_allclose(full.projection, np.zeros((4, 4)), atol=1e-10)

    early = inlp(X_tr, y_tr, X_dv, y_dv, n_iterations=80, min_accuracy=0.9)
    assert early.n_iterations == 1 and len(early.history) == 2
    assert early.history[1]["dev_accuracy"] < 0.9 and not early.history[1]["removed"]
    one = inlp(X_tr, y_tr, X_dv, y_dv, n_iterations=1)  # the rejected classifier left P unchanged
    np.testing.assert_allclose(early.projection, one.projection, atol=1e-12)


def test_inlp_is_deterministic_and_accepts_a_classifier_factory():
    sample, _ = _planted(seed=2)
    X_tr, y_tr = sample(500)
    X_dv, y_dv = sample(200)
    a = inlp(X_tr, y_tr, X_dv, y_dv, n_iterations=2, seed=3)
    b = inlp(X_tr, y_tr, X_dv, y_dv, n_iterations=2, seed=3)
    np.testing.assert_array_equal(a.projection, b.projection)
    c = inlp(X_tr, y_tr, X_dv, y_dv, n_iterations=2,
             classifier_factory=lambda: LogisticRegression(fit_intercept=False, max_iter=1000))
    # multinomial logistic coefficients sum to zero over classes: 3 rows but rank 2 (LinearSVC's OvR gives 3)
    assert c.n_iterations == 2 and c.history[0]["rank_removed"] == 2
    assert a.history[0]["rank_removed"] == 3


# --- Sent-Debias ------------------------------------------------------------------------------------------

# Three counterfactual pairs in R^4 with different pair means, so centring each pair on its own mean
# (not on the global mean) matters.
A = np.array([[0.9, 0.1, 0.3, 0.0], [0.2, 0.8, -0.1, 0.4], [-0.5, 0.3, 0.6, 0.2]])
B = np.array([[0.1, 0.7, 0.2, 0.1], [0.6, 0.1, 0.0, 0.5], [-0.2, -0.4, 0.5, 0.1]])


def _by_hand(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """The reference steps with numpy only: centre pairs, stack, column-centre (as PCA does), SVD, top-k Vᵀ rows."""
    m = (a + b) / 2
    stacked = np.vstack([a - m, b - m])
    stacked = stacked - stacked.mean(axis=0)
    _, _, vt = np.linalg.svd(stacked, full_matrices=False)
    return vt[:k]


def test_sent_debias_subspace_matches_reference_steps():
    V = sent_debias_subspace(A, B, k=1)
    expected = _by_hand(A, B, 1)
    assert V.shape == (1, 4)
    assert np.isclose(abs(float(V[0] @ expected[0])), 1.0, atol=1e-8)  # equal up to sign
    # The fixture discriminates: PCA of the raw (not pair-centred) stacked states gives another direction.
    _, _, vt_raw = np.linalg.svd(np.vstack([A, B]) - np.vstack([A, B]).mean(axis=0))
    assert abs(float(vt_raw[0] @ expected[0])) < 0.99


def test_sent_debias_subspace_k2_orthonormal_and_same_span():
    V = sent_debias_subspace(A, B, k=2)
    np.testing.assert_allclose(V @ V.T, np.eye(2), atol=1e-10)
    expected = _by_hand(A, B, 2)
    np.testing.assert_allclose(V.T @ V, expected.T @ expected, atol=1e-8)  # same subspace


def test_sent_debias_projected_states_orthogonal_to_subspace():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20, 8))
    b = a + rng.standard_normal((20, 8)) * 0.1 + np.eye(8)[0]  # counterfactual shift mostly along e0
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    V = sent_debias_subspace(a, b, k=2)
    P = subspace_removal(V)
    h = rng.standard_normal((3, 5, 8))  # (batch, positions, d)
    out = apply_projection(h, P)
    assert out.shape == h.shape
    np.testing.assert_allclose(out @ V.T, 0.0, atol=1e-6)
    manual = h - (h @ V.T) @ V  # h − Σ (h·v) v
    np.testing.assert_allclose(out, manual, atol=1e-10)
    assert apply_projection(h.astype(np.float32), P).dtype == np.float32


def test_subspace_removal_non_orthonormal_rows():
    V = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]])  # spans e0, e1 but is not orthonormal
    np.testing.assert_allclose(subspace_removal(V), np.diag([0.0, 0.0, 1.0]), atol=1e-12)
    inv_formula = np.eye(3) - V.T @ np.linalg.inv(V @ V.T) @ V
    np.testing.assert_allclose(subspace_removal(V), inv_formula, atol=1e-12)


# --- validation -------------------------------------------------------------------------------------------


def _xy(n: int = 10, d: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), np.arange(n) % 2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"X_train": np.zeros(5)}, "X_train"),
        ({"X_train": np.full((10, 3), np.nan)}, "X_train"),
        ({"y_train": np.zeros(9)}, "y_train"),
        ({"y_train": np.zeros(10)}, "y_train"),  # one class
        ({"X_dev": np.zeros((10, 4))}, "X_dev"),
        ({"X_dev": np.array([[np.inf, 0.0, 0.0]] * 10)}, "X_dev"),
        ({"y_dev": np.zeros((10, 1))}, "y_dev"),
        ({"n_iterations": 0}, "n_iterations"),
        ({"min_accuracy": 1.5}, "min_accuracy"),
    ],
)
def test_inlp_validation_names_argument(kwargs, name):
    X, y = _xy()
    args = {"X_train": X, "y_train": y, "X_dev": X, "y_dev": y, "n_iterations": 1} | kwargs
    with pytest.raises(ValueError, match=name):
        inlp(**args)


def test_other_validation_names_argument():
    with pytest.raises(ValueError, match="a and b"):
        sent_debias_subspace(A, B[:2])
    with pytest.raises(ValueError, match="k must"):
        sent_debias_subspace(A, B, k=5)
    with pytest.raises(ValueError, match="k must"):
        sent_debias_subspace(A, B, k=0)
    with pytest.raises(ValueError, match="^a "):
        sent_debias_subspace(np.full((3, 4), np.nan), B)
    with pytest.raises(ValueError, match="^b "):
        sent_debias_subspace(A, np.zeros((0, 4)))
    with pytest.raises(ValueError, match="rowspace_projections"):
        nullspace_projection([])
    with pytest.raises(ValueError, match=r"rowspace_projections\[1\]"):
        nullspace_projection([np.eye(3), np.eye(2)])
    with pytest.raises(ValueError, match="W"):
        rowspace_projection(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="V"):
        subspace_removal(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="^h "):
        apply_projection(np.ones((2, 3)), np.eye(4))
    with pytest.raises(ValueError, match="P must be square"):
        apply_projection(np.ones((2, 3)), np.ones((3, 2)))

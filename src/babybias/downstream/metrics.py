"""Downstream bias metrics of a fine-tuned classifier, each with a bootstrap interval over test items.

Occupation classification (Bias in Bios; De-Arteaga et al. 2019): per occupation y the TPR gap
``Gap_y = TPR_{female,y} − TPR_{male,y}``, its root mean square over occupations ``GAP_RMS =
sqrt(mean_y Gap_y²)`` (Romanov et al. 2019; INLP's ``get_TPR``) and the Pearson correlation of the
gaps with the share of women in each occupation (of the fine-tuning data, as De-Arteaga et al.).

Identity-term toxicity (Dixon et al. 2018), as conversationai/unintended-ml-bias-analysis's
``model_bias_analysis.py`` computes it (commit c61e656a, read, not copied):

* an item belongs to the subgroup of term t when ``\\bt\\b`` matches it, case-insensitively
  (``add_subgroup_columns_from_text``); a score ≥ threshold is a positive prediction;
* the equal-error-rate threshold is the first of ``linspace(0, 1, 101)`` after which
  ``|#FN − #FP|`` stops decreasing (``compute_equal_error_rate``: ties move it on, an increase stops);
* ``FPED = Σ_t |FPR − FPR_t|`` and ``FNED = Σ_t |FNR − FNR_t|`` at that threshold
  (``per_subgroup_tnr_diff_from_overall`` — |TNR − TNR_t| is |FPR − FPR_t| — and ``…_fnr_…``);
* per term: subgroup AUC, BPSN AUC (subgroup negatives + background positives,
  ``compute_negative_cross_auc``) and BNSP AUC (subgroup positives + background negatives,
  ``compute_positive_cross_auc``); background = the items without the term.

FPED and FNED sum absolute differences, so sampling noise alone makes them positive (and their
bootstrap distribution sits above the estimate): ``fped_noise_floor`` / ``fned_noise_floor`` give
the value expected of a classifier with no identity bias (:func:`noise_floor`); compare conditions
on the same test items, where the floor is shared.

Where upstream would divide by zero (a term with no negatives has no FPR) the rate is NaN and the
sums run over the terms where it is defined; ``n_terms_fped`` / ``n_terms_fned`` say how many.

Intervals resample test items with ``scipy.stats.bootstrap`` (percentile method; the whole
procedure, threshold included, is re-run on every resample, with the item multiplicities as
weights). Resamples where a statistic is undefined (an occupation without women, say) are left
out of its interval, and the count of usable resamples is kept.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

N_RESAMPLES = 999
LEVEL = 0.95
EER_THRESHOLDS = 101
BATCH_ELEMENTS = 2_000_000

__all__ = ["Estimate", "tpr_gaps", "gap_rms", "gap_share_correlation", "bios_metrics",
           "term_masks", "equal_error_rate_threshold", "term_rates", "fped_fned", "auc_table",
           "toxicity_metrics", "weighted_auc", "bootstrap_statistics", "noise_floor"]


@dataclass(frozen=True)
class Estimate:
    """A metric's value on the test items with its bootstrap interval (``low``, ``high``) at ``level``:
    ``n`` items, ``resamples`` of them usable for the interval."""

    estimate: float
    low: float
    high: float
    level: float
    n: int
    resamples: int
    method: str = "bootstrap-percentile over items"

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- bootstrap over items


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Rows of item indices (B × n) → rows of item multiplicities (B × n)."""
    idx = np.atleast_2d(idx).astype(np.int64)
    offsets = (np.arange(idx.shape[0]) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=idx.shape[0] * n).reshape(idx.shape[0], n).astype(float)


def bootstrap_statistics(statistic: Callable[[np.ndarray], np.ndarray], n: int, names: Sequence[str], *,
                         n_resamples: int = N_RESAMPLES, level: float = LEVEL, seed: int = 0) -> dict[str, Estimate]:
    """``statistic(weights)`` (B × n item weights → B × K values) on the data (all weights 1) and its
    percentile interval over ``n_resamples`` resamples of the n items (``scipy.stats.bootstrap``)."""
    if n < 2:
        raise ValueError(f"need at least 2 test items for an interval, got {n}")
    point = np.asarray(statistic(np.ones((1, n))), dtype=float)[0]
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")

    def stat(idx, axis=-1):
        return np.asarray(statistic(_weights(idx, n)), dtype=float).T  # K × B

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((np.arange(n),), stat, vectorized=True, method="percentile", n_resamples=n_resamples,
                              confidence_level=level, batch=max(1, BATCH_ELEMENTS // n), rng=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(len(names), -1)
    alpha = (1 - level) / 2
    out = {}
    for k, name in enumerate(names):
        finite = dist[k][np.isfinite(dist[k])]
        low, high = (np.quantile(finite, [alpha, 1 - alpha]) if finite.size else (np.nan, np.nan))
        out[name] = Estimate(float(point[k]), float(low), float(high), level, n, int(finite.size))
    return out


# --------------------------------------------------------------------------- occupation TPR gaps


def _group_codes(values: Sequence, name: str, levels: Sequence | None = None) -> tuple[np.ndarray, list]:
    values = pd.Series(list(values))
    if values.isna().any():
        raise ValueError(f"{name} has missing values (row {int(values.isna().values.argmax())})")
    levels = list(levels) if levels is not None else sorted(values.unique().tolist())
    index = {v: i for i, v in enumerate(levels)}
    unknown = sorted(set(values) - set(index), key=str)
    if unknown:
        raise ValueError(f"{name} has values outside {levels}: {unknown[:5]}")
    return values.map(index).to_numpy(int), levels


def _check_gender(gender: Sequence) -> np.ndarray:
    g = pd.Series([str(x).lower() for x in gender])
    bad = sorted(set(g) - {"female", "male"})
    if bad:
        raise ValueError(f"gender must be 'female' or 'male' (any case), got {bad[:5]}")
    return (g == "female").to_numpy()


def _tpr_rows(w: np.ndarray, y: np.ndarray, correct: np.ndarray, female: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per occupation TPR of women and of men for every weight row: two B × k arrays (NaN where a cell is empty)."""
    onehot = np.zeros((y.size, 2 * k))
    onehot[np.arange(y.size), 2 * y + female.astype(int)] = 1.0
    total = w @ onehot
    hits = (w * correct) @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = hits / total
    tpr[total == 0] = np.nan
    return tpr[:, 1::2], tpr[:, 0::2]


def tpr_gaps(labels: Sequence, predictions: Sequence, gender: Sequence, classes: Sequence | None = None,
             share_female: dict | None = None) -> pd.DataFrame:
    """One row per occupation: n of women and men, TPR of each, ``gap = TPR_female − TPR_male``
    (NaN where a gender is absent) and ``share_female`` if given (occupation → share of women)."""
    y, levels = _group_codes(labels, "labels", classes)
    p, _ = _group_codes(predictions, "predictions", levels)
    female = _check_gender(gender)
    if not (y.size == p.size == female.size):
        raise ValueError(f"labels, predictions and gender differ in length: {y.size}, {p.size}, {female.size}")
    k = len(levels)
    tf, tm = _tpr_rows(np.ones((1, y.size)), y, (p == y).astype(float), female, k)
    frame = pd.DataFrame({"occupation": levels,
                          "n_female": np.bincount(y[female], minlength=k), "n_male": np.bincount(y[~female], minlength=k),
                          "tpr_female": tf[0], "tpr_male": tm[0]})
    frame["gap"] = frame.tpr_female - frame.tpr_male
    if share_female is not None:
        frame["share_female"] = [share_female.get(o, np.nan) for o in levels]
    return frame


def gap_rms(gaps: Sequence[float]) -> float:
    """``sqrt(mean_y Gap_y²)`` over the occupations whose gap is defined (NaN if none is)."""
    g = np.asarray(gaps, dtype=float)
    g = g[np.isfinite(g)]
    return float(np.sqrt(np.mean(g ** 2))) if g.size else float("nan")


def gap_share_correlation(gaps: Sequence[float], share_female: Sequence[float]) -> tuple[float, float]:
    """Pearson r (and its p) of the TPR gaps with the share of women, over occupations where both are defined."""
    g, s = np.asarray(gaps, dtype=float), np.asarray(share_female, dtype=float)
    keep = np.isfinite(g) & np.isfinite(s)
    if keep.sum() < 3 or np.ptp(g[keep]) == 0 or np.ptp(s[keep]) == 0:
        return float("nan"), float("nan")
    res = stats.pearsonr(g[keep], s[keep])
    return float(res.statistic), float(res.pvalue)


def _rowwise_pearson(g: np.ndarray, s: np.ndarray) -> np.ndarray:
    out = np.full(g.shape[0], np.nan)
    for b in range(g.shape[0]):
        keep = np.isfinite(g[b]) & np.isfinite(s)
        if keep.sum() >= 3 and np.ptp(g[b, keep]) > 0 and np.ptp(s[keep]) > 0:
            out[b] = np.corrcoef(g[b, keep], s[keep])[0, 1]
    return out


def bios_metrics(labels: Sequence, predictions: Sequence, gender: Sequence, classes: Sequence | None = None,
                 share_female: dict | None = None, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                 seed: int = 0) -> tuple[dict[str, Estimate], pd.DataFrame]:
    """Accuracy, GAP_RMS and Pearson r(gap, share of women) with intervals over test bios, and the
    per-occupation table (with each gap's interval)."""
    table = tpr_gaps(labels, predictions, gender, classes, share_female)
    levels = table.occupation.tolist()
    y, _ = _group_codes(labels, "labels", levels)
    p, _ = _group_codes(predictions, "predictions", levels)
    female = _check_gender(gender)
    correct = (p == y).astype(float)
    share = np.array([np.nan if share_female is None else share_female.get(o, np.nan) for o in levels])
    k = len(levels)

    def statistic(w):
        tf, tm = _tpr_rows(w, y, correct, female, k)
        gaps = tf - tm
        with np.errstate(invalid="ignore"):
            rms = np.sqrt(np.nanmean(gaps ** 2, axis=1)) if np.isfinite(gaps).any() else np.full(w.shape[0], np.nan)
        acc = (w @ correct) / w.sum(axis=1)
        return np.column_stack([acc, rms, _rowwise_pearson(gaps, share), gaps])

    names = ["accuracy", "gap_rms", "gap_share_pearson"] + [f"gap/{o}" for o in levels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = bootstrap_statistics(statistic, y.size, names, n_resamples=n_resamples, level=level, seed=seed)
    table["gap_low"] = [est[f"gap/{o}"].low for o in levels]
    table["gap_high"] = [est[f"gap/{o}"].high for o in levels]
    return {n: est[n] for n in names[:3]}, table


# --------------------------------------------------------------------------- identity-term toxicity


def term_masks(texts: Sequence[str], terms: Sequence[str]) -> np.ndarray:
    """n × T booleans: whether ``\\bterm\\b`` occurs in each text (case-insensitive), as upstream's
    ``add_subgroup_columns_from_text`` (the term is a regular expression there too, so it is not escaped)."""
    out = np.zeros((len(texts), len(terms)), dtype=bool)
    for j, term in enumerate(terms):
        rx = re.compile(r"\b" + term + r"\b", flags=re.UNICODE | re.IGNORECASE)
        out[:, j] = [bool(rx.search(t)) for t in texts]
    return out


def _threshold_bins(scores: np.ndarray, num_thresholds: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid ``linspace(0, 1, num)`` and, per item, how many grid points are ≤ its score (positive
    at grid point j iff j < that count)."""
    grid = np.linspace(0, 1, num_thresholds)
    return grid, np.searchsorted(grid, scores, side="right")


def _eer_index(w: np.ndarray, bins: np.ndarray, y: np.ndarray, num: int) -> np.ndarray:
    """Upstream's equal-error-rate search for every weight row: the index into the grid."""
    rows = w.shape[0]
    pos = np.zeros((rows, num + 1))
    neg = np.zeros((rows, num + 1))
    np.add.at(pos.T, bins[y], w[:, y].T)
    np.add.at(neg.T, bins[~y], w[:, ~y].T)
    fn = np.cumsum(pos, axis=1)[:, :num]                      # positives with bin ≤ j are predicted negative at j
    fp = neg.sum(axis=1, keepdims=True) - np.cumsum(neg, axis=1)[:, :num]
    diff = np.abs(fn - fp)
    out = np.empty(rows, dtype=int)
    for b in range(rows):
        d = diff[b]
        j = 0
        # min_diff <= running minimum; stop at the first increase (as upstream's loop with its break)
        while j + 1 < num and d[j + 1] <= d[j]:
            j += 1
        out[b] = j
    return out


def equal_error_rate_threshold(scores: Sequence[float], labels: Sequence[bool],
                               num_thresholds: int = EER_THRESHOLDS) -> float:
    """The threshold of ``linspace(0, 1, num_thresholds)`` where #FN and #FP meet, as upstream's
    ``compute_equal_error_rate`` finds it."""
    s, y = _scores_labels(scores, labels)
    grid, bins = _threshold_bins(s, num_thresholds)
    return float(grid[_eer_index(np.ones((1, s.size)), bins, y, num_thresholds)[0]])


def _scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    if y.dtype != bool:
        if not np.isin(y, [0, 1]).all():
            raise ValueError("labels must be booleans or 0/1 (1 = toxic)")
        y = y.astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of one length, got {s.shape} and {y.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores has non-finite values")
    return s, y


def _rates(w: np.ndarray, pred: np.ndarray, y: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    """Overall and per-term FPR / FNR for every weight row (B and B × T arrays), NaN where undefined."""
    m = np.column_stack([np.ones(y.size, dtype=bool), masks]).astype(float)
    pred = np.broadcast_to(pred, w.shape)  # one prediction row per weight row (thresholds may differ)
    fp = (w * (pred & ~y)) @ m
    neg = (w * ~y) @ m
    fn = (w * (~pred & y)) @ m
    pos = (w * y) @ m
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = np.where(neg > 0, fp / neg, np.nan)
        fnr = np.where(pos > 0, fn / pos, np.nan)
    return {"fpr": fpr[:, 0], "fnr": fnr[:, 0], "fpr_t": fpr[:, 1:], "fnr_t": fnr[:, 1:]}


def term_rates(scores: Sequence[float], labels: Sequence[bool], masks: np.ndarray, threshold: float,
               terms: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per term: n items, FPR and FNR at ``threshold``, and their differences from the overall rates."""
    s, y = _scores_labels(scores, labels)
    masks = np.asarray(masks, dtype=bool)
    r = _rates(np.ones((1, s.size)), s >= threshold, y, masks)
    terms = list(terms) if terms is not None else [f"term_{j}" for j in range(masks.shape[1])]
    return pd.DataFrame({"term": terms, "n": masks.sum(axis=0), "n_negative": (masks & ~y[:, None]).sum(axis=0),
                         "n_positive": (masks & y[:, None]).sum(axis=0), "fpr": r["fpr_t"][0], "fnr": r["fnr_t"][0],
                         "fpr_diff": r["fpr_t"][0] - r["fpr"][0], "fnr_diff": r["fnr_t"][0] - r["fnr"][0]})


def _equality_differences(r: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """FPED and FNED of every row of :func:`_rates`, over the terms where each rate is defined."""
    return (np.nansum(np.abs(r["fpr"][:, None] - r["fpr_t"]), axis=1),
            np.nansum(np.abs(r["fnr"][:, None] - r["fnr_t"]), axis=1))


def fped_fned(scores: Sequence[float], labels: Sequence[bool], masks: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(Σ_t |FPR − FPR_t|, Σ_t |FNR − FNR_t|)`` at ``threshold``, over the terms where each rate is defined."""
    s, y = _scores_labels(scores, labels)
    fped, fned = _equality_differences(_rates(np.ones((1, s.size)), s >= threshold, y, np.asarray(masks, dtype=bool)))
    return float(fped[0]), float(fned[0])


class _Sorted:
    """A reference set of items sorted by score: for any weight rows, the weight of the reference items
    below / equal to each query score, from positions found once (scores are fixed, weights vary)."""

    def __init__(self, scores: np.ndarray, reference: np.ndarray) -> None:
        self.scores = scores
        self.order = reference[np.argsort(scores[reference], kind="stable")]
        self.sorted = scores[self.order]

    def positions(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = self.scores[queries]
        return np.searchsorted(self.sorted, q, side="left"), np.searchsorted(self.sorted, q, side="right")

    def cumulative(self, wt: np.ndarray) -> np.ndarray:
        """Cumulative reference weight in score order, (m + 1) × B, from item-major weights ``wt`` (n × B)."""
        c = np.empty((self.order.size + 1, wt.shape[1]))
        c[0] = 0.0
        np.cumsum(wt[self.order], axis=0, out=c[1:])
        return c

    @staticmethod
    def below_equal(c: np.ndarray, pos: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        below = c[pos[0]]
        return below, c[pos[1]] - below


def weighted_auc(scores: Sequence[float], labels: Sequence[bool], weights: Sequence[float] | None = None) -> float:
    """ROC AUC with item weights (= ``sklearn.metrics.roc_auc_score(sample_weight=)``): the weighted share
    of (positive, negative) pairs ordered correctly, ties counting half. NaN without both classes."""
    s, y = _scores_labels(scores, labels)
    w = np.ones((1, s.size)) if weights is None else np.asarray(weights, dtype=float)[None, :]
    return float(_CrossAucs(s, y, np.zeros((s.size, 0), dtype=bool))(w)[0][0])


class _CrossAucs:
    """Subgroup, BPSN and BNSP AUCs of every term for any weight rows. Background sets are "all items of
    a class minus the term's", so the global sorted positives and negatives serve every term."""

    def __init__(self, s: np.ndarray, y: np.ndarray, masks: np.ndarray) -> None:
        self.T = masks.shape[1]
        self.pos, self.neg = np.flatnonzero(y), np.flatnonzero(~y)
        self.all_pos, self.all_neg = _Sorted(s, self.pos), _Sorted(s, self.neg)
        self.pos_in_all_neg = self.all_neg.positions(self.pos) if self.pos.size else None
        self.parts = []
        for j in range(self.T):
            tp, tn = np.flatnonzero(masks[:, j] & y), np.flatnonzero(masks[:, j] & ~y)
            bp, bn = np.flatnonzero(~masks[:, j] & y), np.flatnonzero(~masks[:, j] & ~y)
            term_neg = _Sorted(s, tn) if tn.size else None
            term_pos = _Sorted(s, tp) if tp.size else None
            self.parts.append({
                "tp": tp, "tn": tn, "bp": bp, "bn": bn, "term_neg": term_neg, "term_pos": term_pos,
                "tp_in_tn": term_neg.positions(tp) if term_neg is not None and tp.size else None,
                "tn_in_tp": term_pos.positions(tn) if term_pos is not None and tn.size else None,
                "tn_in_all_pos": self.all_pos.positions(tn) if tn.size else None,
                "tp_in_all_neg": self.all_neg.positions(tp) if tp.size else None})

    def __call__(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The overall AUC (B) and the per-term AUCs, B × T × 3 (subgroup, BPSN, BNSP)."""
        out = np.full((w.shape[0], self.T, 3), np.nan)
        overall = np.full(w.shape[0], np.nan)
        wt = np.ascontiguousarray(w.T)  # item-major: gathers of items are contiguous rows
        c_pos, c_neg = self.all_pos.cumulative(wt), self.all_neg.cumulative(wt)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.pos.size and self.neg.size:
                below, equal = _Sorted.below_equal(c_neg, self.pos_in_all_neg)
                wp = wt[self.pos]
                overall = (wp * (below + 0.5 * equal)).sum(0) / (wp.sum(0) * c_neg[-1])
            for j, p in enumerate(self.parts):
                tp, tn, bp, bn = p["tp"], p["tn"], p["bp"], p["bn"]
                if not (tp.size or tn.size):
                    continue
                c_tn = p["term_neg"].cumulative(wt) if p["term_neg"] is not None else None
                c_tp = p["term_pos"].cumulative(wt) if p["term_pos"] is not None else None
                wtp, wtn = wt[tp], wt[tn]
                if tp.size and tn.size:  # subgroup: term positives vs term negatives
                    below, equal = _Sorted.below_equal(c_tn, p["tp_in_tn"])
                    out[:, j, 0] = (wtp * (below + 0.5 * equal)).sum(0) / (wtp.sum(0) * wtn.sum(0))
                if tn.size and bp.size:  # BPSN: background positives above each term negative
                    b_all, e_all = _Sorted.below_equal(c_pos, p["tn_in_all_pos"])
                    above, equal = c_pos[-1:] - b_all - e_all, e_all
                    if tp.size:
                        b_t, e_t = _Sorted.below_equal(c_tp, p["tn_in_tp"])
                        above, equal = above - (c_tp[-1:] - b_t - e_t), equal - e_t
                    out[:, j, 1] = (wtn * (above + 0.5 * equal)).sum(0) / (wtn.sum(0) * wt[bp].sum(0))
                if tp.size and bn.size:  # BNSP: background negatives below each term positive
                    below, equal = _Sorted.below_equal(c_neg, p["tp_in_all_neg"])
                    if tn.size:
                        b_t, e_t = _Sorted.below_equal(c_tn, p["tp_in_tn"])
                        below, equal = below - b_t, equal - e_t
                    out[:, j, 2] = (wtp * (below + 0.5 * equal)).sum(0) / (wtp.sum(0) * wt[bn].sum(0))
        return overall, out


def auc_table(scores: Sequence[float], labels: Sequence[bool], masks: np.ndarray,
              terms: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per term: subgroup AUC, BPSN AUC and BNSP AUC (NaN where a needed class is empty)."""
    s, y = _scores_labels(scores, labels)
    masks = np.asarray(masks, dtype=bool)
    a = _CrossAucs(s, y, masks)(np.ones((1, s.size)))[1][0]
    terms = list(terms) if terms is not None else [f"term_{j}" for j in range(masks.shape[1])]
    return pd.DataFrame({"term": terms, "subgroup_auc": a[:, 0], "bpsn_auc": a[:, 1], "bnsp_auc": a[:, 2]})


def toxicity_metrics(scores: Sequence[float], labels: Sequence[bool], texts: Sequence[str] | None = None,
                     terms: Sequence[str] = (), *, masks: np.ndarray | None = None, threshold: float | None = None,
                     num_thresholds: int = EER_THRESHOLDS, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                     seed: int = 0) -> tuple[dict[str, Estimate], pd.DataFrame]:
    """AUC, the EER threshold, FPR/FNR, FPED and FNED (at the EER threshold unless ``threshold`` is
    given), with intervals over test items, and the per-term table (FPR, FNR, three AUCs, each with
    its interval). Subgroups come from ``masks`` (n × T) or from ``terms`` searched in ``texts``."""
    s, y = _scores_labels(scores, labels)
    terms = list(terms)
    if masks is None:
        if texts is None or not terms:
            raise ValueError("give masks, or texts and terms to find the subgroups")
        if len(texts) != s.size:
            raise ValueError(f"texts has {len(texts)} items, scores {s.size}")
        masks = term_masks(texts, terms)
    masks = np.asarray(masks, dtype=bool)
    if masks.shape != (s.size, len(terms)):
        raise ValueError(f"masks must be {s.size} x {len(terms)} (items x terms), got {masks.shape}")
    grid, bins = _threshold_bins(s, num_thresholds)
    aucs = _CrossAucs(s, y, masks)

    def statistic(w):
        thr = grid[_eer_index(w, bins, y, num_thresholds)] if threshold is None else np.full(w.shape[0], threshold)
        pred_rows = s[None, :] >= thr[:, None]
        r = _rates(w, pred_rows, y, masks)
        fped, fned = _equality_differences(r)
        auc, a = aucs(w)
        return np.column_stack([auc, thr, r["fpr"], r["fnr"], fped, fned, r["fpr_t"], r["fnr_t"],
                                a[:, :, 0], a[:, :, 1], a[:, :, 2]])

    per = ["fpr", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc"]
    names = ["auc", "threshold", "fpr", "fnr", "fped", "fned"] + [f"{m}/{t}" for m in per for t in terms]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = bootstrap_statistics(statistic, s.size, names, n_resamples=n_resamples, level=level, seed=seed)
    thr0 = est["threshold"].estimate
    table = term_rates(s, y, masks, thr0, terms)
    for m in per:
        table[m] = [est[f"{m}/{t}"].estimate for t in terms]
        table[f"{m}_low"] = [est[f"{m}/{t}"].low for t in terms]
        table[f"{m}_high"] = [est[f"{m}/{t}"].high for t in terms]
    summary = {n: est[n] for n in names[:6]}
    summary["n_terms_fped"] = int(np.isfinite(table.fpr).sum())
    summary["n_terms_fned"] = int(np.isfinite(table.fnr).sum())
    summary["fped_noise_floor"] = noise_floor(est["fpr"].estimate, table.n_negative.to_numpy())
    summary["fned_noise_floor"] = noise_floor(est["fnr"].estimate, table.n_positive.to_numpy())
    return summary, table


def noise_floor(rate: float, sizes: Sequence[int]) -> float:
    """The FPED (or FNED) a classifier with *no* identity bias shows from sampling alone:
    ``Σ_t sqrt(2/π) · sqrt(r(1 − r)/n_t)``, the expected |r̂_t − r| of a binomial rate over n_t items
    (normal approximation; terms with n_t = 0 are left out). Sums of absolute differences are never
    centred on 0, so read FPED against this floor, and compare conditions on the same test set."""
    n = np.asarray(sizes, dtype=float)
    n = n[n > 0]
    if not np.isfinite(rate) or n.size == 0:
        return float("nan")
    return float(np.sum(np.sqrt(2 / np.pi) * np.sqrt(rate * (1 - rate) / n)))

"""Bias in Bios metrics of an occupation classifier (De-Arteaga et al. 2019), each with a bootstrap interval
over test bios.

Per occupation y the TPR gap ``Gap_y = TPR_{female,y} − TPR_{male,y}``, its root mean square over occupations
``GAP_RMS = sqrt(mean_y Gap_y²)`` (Romanov et al. 2019; INLP's ``get_TPR``) and the Pearson correlation of the
gaps with the share of women in each occupation (of the fine-tuning data, as De-Arteaga et al.). Intervals:
:mod:`babybias.downstream.estimates`.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..analysis.stats import LEVEL, no_spread
from . import estimates
from .estimates import N_RESAMPLES, Estimate

GAP_VARIANTS = ("keep_zero", "inlp")

__all__ = ["tpr_gaps", "gap_rms", "gap_rms_corrected", "gap_share_correlation", "fisher_interval", "bios_metrics",
           "GAP_VARIANTS"]


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


def _cells(w: np.ndarray, y: np.ndarray, correct: np.ndarray, female: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per occupation, for every weight row (B × k arrays): bios and correct predictions of women and of men."""
    onehot = np.zeros((y.size, 2 * k))
    onehot[np.arange(y.size), 2 * y + female.astype(int)] = 1.0
    total = w @ onehot
    hits = (w * correct) @ onehot
    return {"n_female": total[:, 1::2], "n_male": total[:, 0::2], "hit_female": hits[:, 1::2], "hit_male": hits[:, 0::2]}


def _gap_rows(c: dict[str, np.ndarray], variant: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TPR of women, of men and the gap (B × k; NaN where a gender is absent, and under ``variant="inlp"``
    where the occupation has no correct prediction)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tf = np.where(c["n_female"] > 0, c["hit_female"] / c["n_female"], np.nan)
        tm = np.where(c["n_male"] > 0, c["hit_male"] / c["n_male"], np.nan)
    gap = tf - tm
    if variant == "inlp":
        gap = np.where(c["hit_female"] + c["hit_male"] > 0, gap, np.nan)
    return tf, tm, gap


def _check_variant(variant: str) -> str:
    if variant not in GAP_VARIANTS:
        raise ValueError(f"variant must be one of {GAP_VARIANTS}, got {variant!r}")
    return variant


def tpr_gaps(labels: Sequence, predictions: Sequence, gender: Sequence, classes: Sequence | None = None,
             share_female: dict | None = None, *, variant: str = "keep_zero") -> pd.DataFrame:
    """One row per occupation: n of women and men, correct predictions, TPR of each, ``gap = TPR_female −
    TPR_male`` and ``share_female`` if given (occupation → share of women). The gap is NaN where a gender
    is absent and, under ``variant="inlp"`` (INLP's ``get_TPR``), where no bio of the occupation is
    classified correctly; ``variant="keep_zero"`` (default) keeps those with their measured gap 0 − 0 = 0."""
    _check_variant(variant)
    y, levels = _group_codes(labels, "labels", classes)
    p, _ = _group_codes(predictions, "predictions", levels)
    female = _check_gender(gender)
    if not (y.size == p.size == female.size):
        raise ValueError(f"labels, predictions and gender differ in length: {y.size}, {p.size}, {female.size}")
    k = len(levels)
    c = _cells(np.ones((1, y.size)), y, (p == y).astype(float), female, k)
    tf, tm, gap = _gap_rows(c, variant)
    frame = pd.DataFrame({"occupation": levels,
                          "n_female": np.bincount(y[female], minlength=k), "n_male": np.bincount(y[~female], minlength=k),
                          "n_correct": (c["hit_female"] + c["hit_male"])[0].astype(int),
                          "tpr_female": tf[0], "tpr_male": tm[0], "gap": gap[0]})
    if share_female is not None:
        frame["share_female"] = [share_female.get(o, np.nan) for o in levels]
    return frame


def gap_rms(gaps: Sequence[float]) -> float:
    """``sqrt(mean_y Gap_y²)`` over the occupations whose gap is defined (NaN if none is): the plain
    estimate, as published, biased upward by the gaps' sampling noise (see :func:`gap_rms_corrected`)."""
    g = np.asarray(gaps, dtype=float)
    g = g[np.isfinite(g)]
    return float(np.sqrt(np.mean(g ** 2))) if g.size else float("nan")


def _gap_variance(hits: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Unbiased estimate of Var(TPR̂) = p(1 − p)/n: p̂(1 − p̂)/(n − 1); 0 where n ≤ 1 (not estimable)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / n
        return np.where(n > 1, p * (1 - p) / (n - 1), 0.0)


def _rms_rows(gap: np.ndarray, c: dict[str, np.ndarray] | None) -> np.ndarray:
    """Plain (``c`` None) or bias-corrected GAP_RMS of every row of ``gap`` (B × k)."""
    sq = gap ** 2
    if c is not None:
        sq = sq - _gap_variance(c["hit_female"], c["n_female"]) - _gap_variance(c["hit_male"], c["n_male"])
    defined = np.isfinite(gap)
    count = defined.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ms = np.where(defined, sq, 0.0).sum(axis=1) / count
    return np.where(count > 0, np.sqrt(np.maximum(ms, 0.0)), np.nan)


def gap_rms_corrected(table: pd.DataFrame) -> float:
    """GAP_RMS with each squared gap's sampling variance removed: ``sqrt(max(0, mean_y [Gap_y² −
    v_f,y − v_m,y]))``, ``v = TPR(1 − TPR)/(n − 1)`` per gender (0 for a single bio), from :func:`tpr_gaps`'s table."""
    need = {"gap", "tpr_female", "tpr_male", "n_female", "n_male"}
    if not need <= set(table.columns):
        raise ValueError(f"gap_rms_corrected needs tpr_gaps' table with columns {sorted(need)}")
    c = {"n_female": table.n_female.to_numpy(float)[None], "n_male": table.n_male.to_numpy(float)[None],
         "hit_female": (table.tpr_female.fillna(0) * table.n_female).to_numpy(float)[None],
         "hit_male": (table.tpr_male.fillna(0) * table.n_male).to_numpy(float)[None]}
    return float(_rms_rows(table.gap.to_numpy(float)[None], c)[0])


def gap_share_correlation(gaps: Sequence[float], share_female: Sequence[float]) -> tuple[float, float]:
    """Pearson r (and its p) of the TPR gaps with the share of women, over occupations where both are defined."""
    g, s = np.asarray(gaps, dtype=float), np.asarray(share_female, dtype=float)
    keep = np.isfinite(g) & np.isfinite(s)
    if keep.sum() < 3 or no_spread(g[keep]) or no_spread(s[keep]):
        return float("nan"), float("nan")
    res = stats.pearsonr(g[keep], s[keep])
    return float(res.statistic), float(res.pvalue)


def fisher_interval(r: float, k: int, level: float = LEVEL) -> tuple[float, float]:
    """The Fisher z interval of a Pearson r over k pairs, ``tanh(atanh r ± z_{(1+level)/2}/sqrt(k − 3))``
    (what ``scipy.stats.pearsonr(...).confidence_interval()`` gives); NaN for k ≤ 3 or r undefined."""
    if k <= 3 or not np.isfinite(r):
        return float("nan"), float("nan")
    half = stats.norm.ppf(0.5 + level / 2) / np.sqrt(k - 3)
    z = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def _rowwise_pearson(g: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Pearson r of every row of ``g`` (B × k) with ``s`` (k), over the columns where both are finite."""
    keep = np.isfinite(g) & np.isfinite(s)[None, :]
    m = keep.sum(axis=1)
    gz, sz = np.where(keep, g, 0.0), np.where(keep, s[None, :], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        gc = np.where(keep, gz - gz.sum(1, keepdims=True) / m[:, None], 0.0)
        sc = np.where(keep, sz - sz.sum(1, keepdims=True) / m[:, None], 0.0)
        vg, vs = (gc ** 2).sum(1), (sc ** 2).sum(1)
        r = (gc * sc).sum(1) / np.sqrt(vg * vs)
    ok = (m >= 3) & (vg > 1e-24 * np.maximum(1.0, (gz ** 2).sum(1))) & (vs > 1e-24 * np.maximum(1.0, (sz ** 2).sum(1)))
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def bios_metrics(labels: Sequence, predictions: Sequence, gender: Sequence, classes: Sequence | None = None,
                 share_female: dict | None = None, *, n_resamples: int = N_RESAMPLES, level: float = LEVEL,
                 seed: int = 0, variant: str = "keep_zero", method: str = "percentile",
                 pearson_interval: str = "fisher") -> tuple[dict[str, Estimate], pd.DataFrame]:
    """Accuracy and GAP_RMS (plain and bias-corrected) with ``method`` intervals over test bios, Pearson
    r(gap, share of women) with its Fisher z interval over the occupations, and the per-occupation table
    (with each gap's interval; ``pearson_interval="bootstrap"``: r's ``method`` interval over bios instead).
    ``variant``: see :func:`tpr_gaps`."""
    if pearson_interval not in ("fisher", "bootstrap"):
        raise ValueError(f"pearson_interval must be 'fisher' or 'bootstrap', got {pearson_interval!r}")
    table = tpr_gaps(labels, predictions, gender, classes, share_female, variant=variant)
    levels = table.occupation.tolist()
    y, _ = _group_codes(labels, "labels", levels)
    p, _ = _group_codes(predictions, "predictions", levels)
    female = _check_gender(gender)
    correct = (p == y).astype(float)
    share = np.array([np.nan if share_female is None else share_female.get(o, np.nan) for o in levels])
    k = len(levels)

    def statistic(w):
        c = _cells(w, y, correct, female, k)
        gaps = _gap_rows(c, variant)[2]
        acc = (w @ correct) / w.sum(axis=1)
        return np.column_stack([acc, _rms_rows(gaps, None), _rms_rows(gaps, c), _rowwise_pearson(gaps, share), gaps])

    names = ["accuracy", "gap_rms", "gap_rms_corrected", "gap_share_pearson"] + [f"gap/{o}" for o in levels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        est = estimates.bootstrap_statistics(statistic, y.size, names, n_resamples=n_resamples, level=level, seed=seed,
                                   method=method)
    table["gap_low"] = [est[f"gap/{o}"].low for o in levels]
    table["gap_high"] = [est[f"gap/{o}"].high for o in levels]
    est["gap_rms_corrected"] = _recentred(est["gap_rms_corrected"], est["gap_rms"].estimate, statistic, y.size,
                                          n_resamples, level, seed, method)
    k_defined = int((np.isfinite(table.gap.to_numpy(dtype=float)) & np.isfinite(share)).sum())
    r = est["gap_share_pearson"].estimate
    if pearson_interval == "fisher":
        est["gap_share_pearson"] = Estimate(r, *fisher_interval(r, k_defined, level), level, k_defined,
                                            "Fisher z over occupations")  # a bootstrap interval can exclude r
    return {n: est[n] for n in names[:4]}, table


def _recentred(corrected: Estimate, plain: float, statistic: Callable, n: int, n_resamples: int, level: float,
               seed: int, method: str) -> Estimate:
    """The corrected GAP_RMS's interval: percentile quantiles q of its bootstrap values, which centre on the
    plain value (the resampled data's truth), moved to centre on the corrected one in the squared scale:
    ``sqrt(max(0, q² − (plain² − corrected²)))``. ``corrected`` already holds those quantiles when the
    bootstrap was a percentile one; after BCa they are computed again from the same resamples."""
    if not (np.isfinite(plain) and np.isfinite(corrected.estimate)):
        return corrected
    pct = corrected
    if method != "percentile":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pct = estimates.bootstrap_statistics(lambda w: statistic(w)[:, 2:3], n, ["c"], n_resamples=n_resamples, level=level,
                                       seed=seed, method="percentile")["c"]
    shift = plain ** 2 - corrected.estimate ** 2
    low, high = (float(np.sqrt(max(0.0, q ** 2 - shift))) for q in (pct.low, pct.high))
    return Estimate(corrected.estimate, low, high, level, n,
                    "bootstrap-percentile over items, recentred on the bias-corrected estimate", resamples=pct.resamples)


"""Issue 19, items 6 and 7: the GAP_RMS variants (INLP's get_TPR vs keeping occupations without a correct
prediction), and the downstream statistics' bias and interval coverage by small seeded simulations with
a known truth (the full ones: ``benchmarks/bench_intervals.py``)."""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from babybias.analysis.stats import mean_interval
from babybias.downstream.bias_in_bios import (bios_metrics, fisher_interval, gap_rms, gap_rms_corrected,
                                              gap_share_correlation, tpr_gaps)
from babybias.downstream.estimates import metric_bounds

TOL = 1e-12
_spec = importlib.util.spec_from_file_location(
    "bench_intervals", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_intervals.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

# --------------------------------------------------------------------------- item 6: GAP_RMS variants

# 14 bios, 4 occupations. (label, prediction, gender)
#   nurse  : women 1 of 2 correct, men 0 of 2  -> gap +0.5
#   dj     : women 0 of 2, men 0 of 2          -> no correct prediction: INLP drops it; keep_zero: gap 0
#   surgeon: women 1 of 2, men 2 of 2          -> gap −0.5
#   poet   : women 1 of 1, men 1 of 3          -> gap +2/3
# INLP:      sqrt((0.25 + 0.25 + 4/9) / 3) = sqrt(17/54)
# keep_zero: sqrt((0.25 + 0 + 0.25 + 4/9) / 4) = sqrt(17/72)
V = [("nurse", "nurse", "female"), ("nurse", "dj", "female"), ("nurse", "dj", "male"), ("nurse", "poet", "male"),
     ("dj", "nurse", "female"), ("dj", "poet", "female"), ("dj", "nurse", "male"), ("dj", "surgeon", "male"),
     ("surgeon", "surgeon", "female"), ("surgeon", "nurse", "female"), ("surgeon", "surgeon", "male"),
     ("surgeon", "surgeon", "male"), ("poet", "poet", "female"), ("poet", "poet", "male")]
V += [("poet", "dj", "male"), ("poet", "nurse", "male")]
V_LABELS, V_PREDS, V_GENDER = (list(c) for c in zip(*V))
V_SHARE = {"nurse": 0.9, "dj": 0.2, "surgeon": 0.3, "poet": 0.6}


def test_gap_variants_hand_fixture():
    inlp = tpr_gaps(V_LABELS, V_PREDS, V_GENDER, share_female=V_SHARE, variant="inlp").set_index("occupation")
    keep = tpr_gaps(V_LABELS, V_PREDS, V_GENDER, share_female=V_SHARE).set_index("occupation")  # default
    assert inlp.n_correct.to_dict() == {"dj": 0, "nurse": 1, "poet": 2, "surgeon": 3}
    assert (keep.loc["dj", "tpr_female"], keep.loc["dj", "tpr_male"], keep.loc["dj", "gap"]) == (0.0, 0.0, 0.0)
    assert math.isnan(inlp.loc["dj", "gap"])  # INLP's get_TPR drops it
    for t in (inlp, keep):
        assert t.loc[["nurse", "surgeon", "poet"], "gap"].tolist() == pytest.approx([0.5, -0.5, 2 / 3], abs=TOL)
    assert gap_rms(inlp.gap) == pytest.approx(math.sqrt(17 / 54), abs=TOL)
    assert gap_rms(keep.gap) == pytest.approx(math.sqrt(17 / 72), abs=TOL)
    # the Pearson r runs over the same occupations (INLP's similarity_vs_tpr over tprs_change's keys)
    assert gap_share_correlation(inlp.gap, inlp.share_female)[0] == pytest.approx(
        stats.pearsonr([0.5, -0.5, 2 / 3], [0.9, 0.3, 0.6]).statistic, abs=TOL)
    est, _ = bios_metrics(V_LABELS, V_PREDS, V_GENDER, share_female=V_SHARE, n_resamples=19, variant="inlp")
    assert est["gap_rms"].estimate == pytest.approx(math.sqrt(17 / 54), abs=TOL)
    est, _ = bios_metrics(V_LABELS, V_PREDS, V_GENDER, n_resamples=19)
    assert est["gap_rms"].estimate == pytest.approx(math.sqrt(17 / 72), abs=TOL)
    with pytest.raises(ValueError, match="variant"):
        tpr_gaps(V_LABELS, V_PREDS, V_GENDER, variant="romanov")


def inlp_get_tpr(y_pred, y_true, gender):
    """nullspace_projection notebooks/biasbios_bert.ipynb ``get_TPR`` and ``rms_diff``, restated (i2p = identity)."""
    scores, total = defaultdict(Counter), defaultdict(Counter)
    for y_hat, y, g in zip(y_pred, y_true, gender):
        if y == y_hat:
            scores[y][g] += 1
        total[y][g] += 1
    change = {p: s["f"] / total[p]["f"] - s["m"] / total[p]["m"] for p, s in scores.items()}
    vals = np.array(list(change.values()))
    return change, float(np.sqrt(np.mean(vals ** 2)))


def test_inlp_variant_equals_the_notebook_code():
    rng = np.random.default_rng(3)
    occ = [f"o{i}" for i in range(12)]
    labels = np.repeat(occ, 8)
    gender = np.tile(["f", "m"], 48)
    preds = np.where(rng.random(labels.size) < 0.12, labels, "other")  # several occupations get no correct one
    change, rms = inlp_get_tpr(preds, labels, gender)
    assert 0 < len(change) < len(occ)
    table = tpr_gaps(labels, preds, np.where(gender == "f", "female", "male"), classes=occ + ["other"], variant="inlp")
    assert gap_rms(table.gap) == pytest.approx(rms, abs=TOL)
    got = table.set_index("occupation").gap.dropna().to_dict()
    assert got.keys() == change.keys() and all(got[k] == pytest.approx(change[k], abs=TOL) for k in got)


# --------------------------------------------------------------------------- item 7: bias and coverage


def test_gap_rms_corrected_hand_value():
    # one occupation: women 3 of 4 correct, men 1 of 4 -> gap 0.5; v = (3/4·1/4)/3 = 1/16 each
    # corrected: sqrt(0.25 − 1/16 − 1/16) = sqrt(0.125)
    labels, gender = ["a"] * 8, ["female"] * 4 + ["male"] * 4
    preds = ["a", "a", "a", "b", "a", "b", "b", "b"]
    t = tpr_gaps(labels, preds, gender, classes=["a", "b"])
    assert gap_rms(t.gap) == pytest.approx(0.5, abs=TOL)
    assert gap_rms_corrected(t) == pytest.approx(math.sqrt(0.125), abs=TOL)
    est, _ = bios_metrics(labels, preds, gender, ["a", "b"], n_resamples=49)
    assert est["gap_rms_corrected"].estimate == pytest.approx(math.sqrt(0.125), abs=TOL)
    assert est["gap_rms_corrected"].low <= est["gap_rms_corrected"].estimate <= est["gap_rms_corrected"].high


def test_gap_rms_bias_and_coverage_by_simulation():
    # 10 occupations × 60 bios, R = 50 replications of 99 resamples (~2 s). Monte-Carlo tolerance: 3 SE.
    design = bench.bios_design(10, seed=0)
    truth = bench.bios_truth(design)["gap_rms"]
    rng = np.random.default_rng(1)
    share = dict(enumerate(design["share"]))
    plain, corrected = [], []
    R = 50
    for r in range(R):
        labels, preds, gender = bench.bios_sample(rng, design, 60)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est, _ = bios_metrics(labels, preds, gender, share_female=share, n_resamples=99, seed=r,
                                  variant="keep_zero", method="percentile")
        plain.append((est["gap_rms"].estimate, est["gap_rms"].low, est["gap_rms"].high))
        corrected.append((est["gap_rms_corrected"].estimate, est["gap_rms_corrected"].low, est["gap_rms_corrected"].high))
    plain, corrected = np.array(plain), np.array(corrected)
    sd = plain[:, 0].std(ddof=1) / math.sqrt(R)
    # the plain estimate is biased upward far beyond Monte-Carlo error; the corrected one is not
    assert plain[:, 0].mean() - truth > 10 * sd
    assert abs(corrected[:, 0].mean() - truth) < 3 * corrected[:, 0].std(ddof=1) / math.sqrt(R)

    def coverage(a):
        return np.mean((a[:, 1] <= truth) & (truth <= a[:, 2]))

    tol = 3 * math.sqrt(0.95 * 0.05 / R)
    assert coverage(plain) < 0.95 - tol           # before: the plain value's percentile interval misses the truth
    assert coverage(corrected) >= 0.95 - tol     # the recentred interval of the corrected value covers (conservative)


def test_fped_noise_floor_by_simulation():
    # 2 terms of 200 of 600 negatives: the floor without 1 − n_t/N is sqrt(3/2) ≈ 1.22× the mean FPED
    t = bench.fped_floor(1000, seed=0).set_index("floor")
    old, new = t.iloc[0], t.iloc[1]
    assert abs(new.mean_floor - new.mean_fped) < 3 * new.mc_se + 0.01 * new.mean_fped
    assert old.floor_over_fped == pytest.approx(math.sqrt(1.5), rel=0.03)


def test_fisher_interval_is_scipys():
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.55])
    y = np.array([0.0, 0.3, 0.5, 0.7, 0.95, 0.1, 0.4])
    res = stats.pearsonr(x, y)
    ci = res.confidence_interval(0.95)
    assert fisher_interval(res.statistic, x.size) == pytest.approx((ci.low, ci.high), abs=1e-12)
    # by hand: tanh(atanh r ± 1.959964/sqrt(4))
    z = math.atanh(res.statistic)
    assert fisher_interval(res.statistic, 7)[0] == pytest.approx(math.tanh(z - stats.norm.ppf(0.975) / 2), abs=1e-12)
    assert all(math.isnan(v) for v in fisher_interval(0.5, 3))


def test_seed_t_interval_clipped_to_metric_range_by_simulation():
    # 3 seeds of an AUC near 1: the plain t interval reaches above 1 most of the time; clipping never
    # changes coverage (the truth lies in the range), which stays near 95 % (t is exact for normal seeds)
    t = bench.seed_intervals(500, seed=0).set_index("interval")
    before, clipped = t.loc["t (before)"], t.loc["t, clipped to [0, 1]"]
    assert before.outside_range > 0.5 and clipped.outside_range == 0
    assert clipped.coverage == before.coverage
    assert abs(clipped.coverage - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 500) + 0.02  # + the clip of seeds at 1
    iv = mean_interval([0.2, 0.9, 0.95], bounds=metric_bounds("madlibs/auc"))
    raw = mean_interval([0.2, 0.9, 0.95])
    assert raw.low < 0 and raw.high > 1 and (iv.low, iv.high) == (0, 1) and iv.method == "t, clipped to [0, 1]"
    assert iv.estimate == raw.estimate
    assert metric_bounds("madlibs/fped") == (0, np.inf) and metric_bounds("gap_share_pearson") == (-1, 1)
    assert metric_bounds("upstream/kurita") == (-np.inf, np.inf)
    with pytest.raises(ValueError, match="outside bounds"):
        mean_interval([0.5, 1.2], bounds=(0, 1))

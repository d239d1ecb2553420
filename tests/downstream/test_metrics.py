"""Tests of babybias.downstream.bias_in_bios and .toxicity: hand-computed values, agreement with an independent restatement of
conversationai/unintended-ml-bias-analysis's procedure, weighted AUC vs sklearn, the weighted bootstrap,
the FPED noise floor, term matching and input validation."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from babybias.downstream.bias_in_bios import (
    bios_metrics,
    gap_rms,
    gap_rms_corrected,
    gap_share_correlation,
    tpr_gaps,
)
from babybias.downstream.estimates import bootstrap_statistics
from babybias.downstream.toxicity import (
    auc_table,
    equal_error_rate_threshold,
    fped_fned,
    noise_floor,
    term_masks,
    term_rates,
    toxicity_metrics,
    weighted_auc,
)

TOL = 1e-12
GRID = np.linspace(0, 1, 101)

# --------------------------------------------------------------------------- hand-computed: Bias in Bios

# 12 bios, 3 occupations. (label, prediction, gender)
#   nurse  : 4 women, 3 correct -> TPR_f = 3/4 ; 2 men, 1 correct -> TPR_m = 1/2 ; gap = +0.25
#   doctor : 2 women, 1 correct -> TPR_f = 1/2 ; 2 men, 2 correct -> TPR_m = 1   ; gap = -0.5
#   plumber: 0 women            -> TPR_f = NaN ; 2 men, 1 correct -> TPR_m = 1/2 ; gap = NaN
# GAP_RMS over the defined gaps = sqrt((0.25² + 0.5²) / 2) = sqrt(0.15625) = 0.39528470752104744
# accuracy = (3 + 1 + 1 + 2 + 1) / 12 = 8/12
BIOS = [
    ("nurse", "nurse", "female"), ("nurse", "nurse", "female"), ("nurse", "nurse", "Female"),
    ("nurse", "doctor", "female"),
    ("nurse", "nurse", "male"), ("nurse", "doctor", "male"),
    ("doctor", "doctor", "female"), ("doctor", "nurse", "female"),
    ("doctor", "doctor", "male"), ("doctor", "doctor", "MALE"),
    ("plumber", "plumber", "male"), ("plumber", "doctor", "male"),
]
BIO_LABELS, BIO_PREDS, BIO_GENDER = (list(c) for c in zip(*BIOS))
SHARE = {"nurse": 0.9, "doctor": 0.4, "plumber": 0.05}


def test_tpr_gaps_hand_computed():
    t = tpr_gaps(BIO_LABELS, BIO_PREDS, BIO_GENDER, share_female=SHARE).set_index("occupation")
    assert list(t.index) == ["doctor", "nurse", "plumber"]  # sorted labels
    assert t.loc["nurse", ["n_female", "n_male"]].tolist() == [4, 2]
    assert t.loc["doctor", ["n_female", "n_male"]].tolist() == [2, 2]
    assert t.loc["plumber", ["n_female", "n_male"]].tolist() == [0, 2]
    assert t.loc["nurse", "tpr_female"] == pytest.approx(0.75, abs=TOL)
    assert t.loc["nurse", "tpr_male"] == pytest.approx(0.5, abs=TOL)
    assert t.loc["nurse", "gap"] == pytest.approx(0.25, abs=TOL)
    assert t.loc["doctor", "tpr_female"] == pytest.approx(0.5, abs=TOL)
    assert t.loc["doctor", "tpr_male"] == pytest.approx(1.0, abs=TOL)
    assert t.loc["doctor", "gap"] == pytest.approx(-0.5, abs=TOL)
    assert math.isnan(t.loc["plumber", "tpr_female"])
    assert t.loc["plumber", "tpr_male"] == pytest.approx(0.5, abs=TOL)
    assert math.isnan(t.loc["plumber", "gap"])
    assert t.loc["plumber", "share_female"] == 0.05
    # the NaN gap of plumber is left out of the RMS
    assert gap_rms(t.gap) == pytest.approx(math.sqrt((0.25 ** 2 + 0.5 ** 2) / 2), abs=TOL)
    assert gap_rms(t.gap) == pytest.approx(0.39528470752104744, abs=TOL)
    assert math.isnan(gap_rms([np.nan, np.nan]))
    # only 2 occupations have both a gap and a share: too few for a correlation
    r, p = gap_share_correlation(t.gap, t.share_female)
    assert math.isnan(r) and math.isnan(p)


def test_tpr_gaps_with_given_classes_keeps_empty_occupation():
    t = tpr_gaps(BIO_LABELS, BIO_PREDS, BIO_GENDER, classes=["nurse", "doctor", "plumber", "teacher"])
    assert t.occupation.tolist() == ["nurse", "doctor", "plumber", "teacher"]
    assert t.loc[3, ["n_female", "n_male"]].tolist() == [0, 0]
    assert math.isnan(t.gap[3])
    assert t.gap[0] == pytest.approx(0.25, abs=TOL)


def test_gap_share_correlation_matches_scipy():
    gaps = [0.25, -0.5, np.nan, 0.1, -0.2]
    share = [0.9, 0.2, 0.5, 0.7, np.nan]
    # defined in both: occupations 0, 1, 3 -> g = (0.25, -0.5, 0.1), s = (0.9, 0.2, 0.7)
    # means: g = -0.05, s = 0.6 ; centred g = (0.3, -0.45, 0.15), s = (0.3, -0.4, 0.1)
    # r = (0.09 + 0.18 + 0.015) / sqrt((0.09 + 0.2025 + 0.0225) * (0.09 + 0.16 + 0.01)) = 0.285 / sqrt(0.315 * 0.26)
    r, p = gap_share_correlation(gaps, share)
    ref = stats.pearsonr([0.25, -0.5, 0.1], [0.9, 0.2, 0.7])
    assert r == pytest.approx(ref.statistic, abs=TOL)
    assert p == pytest.approx(ref.pvalue, abs=TOL)
    assert r == pytest.approx(0.285 / math.sqrt(0.315 * 0.26), abs=1e-12)
    # a constant gap vector has no correlation
    assert all(math.isnan(v) for v in gap_share_correlation([0.1, 0.1, 0.1], [0.2, 0.5, 0.9]))


# --------------------------------------------------------------------------- hand-computed: identity terms

# 10 items, terms "gay" and "muslim". Scores sit between grid points (x.xx5) so no score equals a threshold.
#   item text               label score   in gay  in muslim
TOX = [
    ("i am gay", 0, 0.705),         # G
    ("i am gay", 0, 0.205),         # G
    ("gay people", 1, 0.905),       # G
    ("i am muslim", 0, 0.605),      # M
    ("muslim friend", 1, 0.405),    # M
    ("Muslim and gay", 1, 0.805),   # G M (case-insensitive match)
    ("hello", 0, 0.105),
    ("hello there", 0, 0.305),
    ("you idiot", 1, 0.655),
    ("nice day", 0, 0.055),
]
TOX_TEXTS, TOX_LABELS, TOX_SCORES = (list(c) for c in zip(*TOX))
TOX_TERMS = ["gay", "muslim"]


def test_equal_error_rate_threshold_hand_computed():
    # negatives' scores .055 .105 .205 .305 .605 .705 ; positives' .405 .655 .805 .905
    # |FN − FP| along the grid t = 0.00, 0.01, ...:
    #   t ≤ .05: FN 0, FP 6 -> 6 ; .06–.10: 5 ; .11–.20: 4 ; .21–.30: 3 ; .31–.40: 2
    #   .41–.60: FN 1 (.405), FP 2 -> 1 ; .61–.65: FN 1, FP 1 (.705) -> 0 (ties move the threshold on)
    #   .66: FN 2 (.655), FP 1 -> 1, an increase: stop. Threshold = 0.65
    thr = equal_error_rate_threshold(TOX_SCORES, TOX_LABELS)
    assert thr == GRID[65]
    assert thr == pytest.approx(0.65, abs=TOL)
    # boolean labels work the same
    assert equal_error_rate_threshold(TOX_SCORES, np.array(TOX_LABELS, dtype=bool)) == thr


def test_term_rates_and_fped_fned_hand_computed():
    masks = term_masks(TOX_TEXTS, TOX_TERMS)
    assert masks[:, 0].tolist() == [True, True, True, False, False, True, False, False, False, False]
    assert masks[:, 1].tolist() == [False, False, False, True, True, True, False, False, False, False]
    # at t = 0.65, predicted positive: .655 (P), .705 (N, item 0), .805 (P), .905 (P)
    # overall: FP 1 of 6 negatives -> FPR 1/6 ; FN 1 (item 4, .405) of 4 positives -> FNR 1/4
    # gay   : negatives items 0, 1 -> FP 1 -> FPR 1/2 ; positives items 2, 5 -> FN 0 -> FNR 0
    # muslim: negative  item 3     -> FP 0 -> FPR 0   ; positives items 4, 5 -> FN 1 -> FNR 1/2
    t = term_rates(TOX_SCORES, TOX_LABELS, masks, 0.65, TOX_TERMS).set_index("term")
    assert t.loc["gay", ["n", "n_negative", "n_positive"]].tolist() == [4, 2, 2]
    assert t.loc["muslim", ["n", "n_negative", "n_positive"]].tolist() == [3, 1, 2]
    np.testing.assert_allclose(t.fpr, [0.5, 0.0], atol=TOL)
    np.testing.assert_allclose(t.fnr, [0.0, 0.5], atol=TOL)
    np.testing.assert_allclose(t.fpr_diff, [0.5 - 1 / 6, 0 - 1 / 6], atol=TOL)
    np.testing.assert_allclose(t.fnr_diff, [0 - 0.25, 0.5 - 0.25], atol=TOL)
    # FPED = |1/6 − 1/2| + |1/6 − 0| = 1/3 + 1/6 = 1/2 ; FNED = |1/4 − 0| + |1/4 − 1/2| = 1/2
    fped, fned = fped_fned(TOX_SCORES, TOX_LABELS, masks, 0.65)
    assert fped == pytest.approx(0.5, abs=TOL)
    assert fned == pytest.approx(0.5, abs=TOL)
    # default term names
    assert term_rates(TOX_SCORES, TOX_LABELS, masks, 0.65).term.tolist() == ["term_0", "term_1"]


def test_auc_table_hand_computed():
    masks = term_masks(TOX_TEXTS, TOX_TERMS)
    a = auc_table(TOX_SCORES, TOX_LABELS, masks, TOX_TERMS).set_index("term")
    # gay subgroup: positives .905 .805 vs negatives .705 .205 -> 4/4 pairs right = 1
    # gay BPSN: gay negatives .705 .205 vs background positives .405 .655 -> right: (.405>.205), (.655>.205) = 2/4
    # gay BNSP: gay positives .905 .805 vs background negatives .605 .105 .305 .055 -> 8/8 = 1
    assert a.loc["gay"].tolist() == pytest.approx([1.0, 0.5, 1.0], abs=TOL)
    # muslim subgroup: positives .405 .805 vs negative .605 -> 1/2
    # muslim BPSN: negative .605 vs background positives .905 .655 -> 2/2 = 1
    # muslim BNSP: positives .405 .805 vs background negatives .705 .205 .105 .305 .055
    #   .405 beats 4 of 5, .805 beats 5 -> 9/10
    assert a.loc["muslim"].tolist() == pytest.approx([0.5, 1.0, 0.9], abs=TOL)


def test_toxicity_metrics_hand_fixture():
    summary, table = toxicity_metrics(TOX_SCORES, TOX_LABELS, TOX_TEXTS, TOX_TERMS, n_resamples=99, seed=1)
    assert summary["threshold"].estimate == pytest.approx(0.65, abs=TOL)
    assert summary["fpr"].estimate == pytest.approx(1 / 6, abs=TOL)
    assert summary["fnr"].estimate == pytest.approx(1 / 4, abs=TOL)
    assert summary["fped"].estimate == pytest.approx(0.5, abs=TOL)
    assert summary["fned"].estimate == pytest.approx(0.5, abs=TOL)
    # overall AUC: 24 pairs; wrong ones: .405 < .605, .705 ; .655 < .705 -> 21/24
    assert summary["auc"].estimate == pytest.approx(21 / 24, abs=TOL)
    assert summary["n_terms_fped"] == 2 and summary["n_terms_fned"] == 2
    # noise floors: sqrt(2/π)·Σ_t sqrt(r(1−r)(1 − n_t/N)/n_t), 6 negatives, n_gay = 2, n_muslim = 1
    r = 1 / 6
    assert summary["fped_noise_floor"] == pytest.approx(
        math.sqrt(2 / math.pi) * (math.sqrt(r * (1 - r) * (4 / 6) / 2) + math.sqrt(r * (1 - r) * (5 / 6) / 1)), abs=TOL)
    assert table.fpr.tolist() == pytest.approx([0.5, 0.0], abs=TOL)
    assert table.subgroup_auc.tolist() == pytest.approx([1.0, 0.5], abs=TOL)
    for name in ["auc", "threshold", "fpr", "fnr", "fped", "fned"]:
        e = summary[name]
        assert e.n == 10 and 0 < e.resamples <= 99 and e.level == 0.95
        assert e.low <= e.high
    # a given threshold is used as is
    s2, _ = toxicity_metrics(TOX_SCORES, TOX_LABELS, TOX_TEXTS, TOX_TERMS, threshold=0.5, n_resamples=19)
    assert s2["threshold"].estimate == 0.5 and s2["threshold"].low == 0.5 == s2["threshold"].high
    assert (s2["fped"].estimate, s2["fned"].estimate) == pytest.approx(
        fped_fned(TOX_SCORES, TOX_LABELS, term_masks(TOX_TEXTS, TOX_TERMS), 0.5), abs=TOL)


# --------------------------------------------------------------------------- upstream restatement
# An independent pandas restatement of conversationai/unintended-ml-bias-analysis
# (archive/unintended_ml_bias/model_bias_analysis.py) as read: not its code.


def ref_frame(texts, scores, labels, terms) -> pd.DataFrame:
    """Subgroup columns: True where r'\\b' + term + r'\\b' occurs, ignoring case."""
    df = pd.DataFrame({"text": list(texts), "score": np.asarray(scores, float), "label": np.asarray(labels, bool)})
    for term in terms:
        rx = re.compile(r"\b" + term + r"\b", flags=re.UNICODE | re.IGNORECASE)
        df[term] = df["text"].map(lambda x, rx=rx: rx.search(x) is not None)
    return df


def ref_counts(df, threshold) -> dict:
    """Confusion counts with score >= threshold counted positive (Python ints)."""
    pos = df["score"] >= threshold
    lab = df["label"]
    return {"tp": int((pos & lab).sum()), "tn": int((~pos & ~lab).sum()),
            "fp": int((pos & ~lab).sum()), "fn": int((~pos & lab).sum())}


def ref_eer(df, num=101) -> float:
    """Walk linspace(0, 1, num); keep a threshold while |FN − FP| <= the smallest so far, stop at the first rise."""
    best, min_diff = None, float("inf")
    for threshold in np.linspace(0, 1, num):
        c = ref_counts(df, threshold)
        difference = abs(c["fn"] - c["fp"])
        if difference <= min_diff:
            min_diff, best = difference, threshold
        else:
            break
    return float(best)


def ref_tnr(df, threshold) -> float:
    c = ref_counts(df, threshold)
    return c["tn"] / (c["tn"] + c["fp"])  # ZeroDivisionError without negatives, as upstream


def ref_fnr(df, threshold) -> float:
    c = ref_counts(df, threshold)
    return 1 - c["tp"] / (c["tp"] + c["fn"])  # fnr = 1 − tpr, ZeroDivisionError without positives


def ref_tnr_difference(df, terms, threshold) -> float:
    """Σ_t |TNR − TNR_t|: upstream's per_subgroup_tnr_diff_from_overall (one model)."""
    tnr = ref_tnr(df, threshold)
    return sum(abs(tnr - ref_tnr(df[df[t]], threshold)) for t in terms)


def ref_fnr_difference(df, terms, threshold) -> float:
    """Σ_t |FNR − FNR_t|: upstream's per_subgroup_fnr_diff_from_overall (one model)."""
    fnr = ref_fnr(df, threshold)
    return sum(abs(fnr - ref_fnr(df[df[t]], threshold)) for t in terms)


def ref_auc(examples) -> float:
    """roc_auc_score, NaN where it is undefined (upstream's compute_auc)."""
    if examples["label"].nunique() < 2:
        return float("nan")
    return float(roc_auc_score(examples["label"], examples["score"]))


def ref_aucs(df, term) -> tuple[float, float, float]:
    sub = df[df[term]]
    bpsn = pd.concat([df[df[term] & ~df["label"]], df[~df[term] & df["label"]]])
    bnsp = pd.concat([df[df[term] & df["label"]], df[~df[term] & ~df["label"]]])
    return ref_auc(sub), ref_auc(bpsn), ref_auc(bnsp)


TEMPLATES = ["i am a {adj} {term}", "{term} people are {adj}", "Being {term} is {adj}",
             "my {term} friend and my {term2} neighbour are {adj}", "i am a {adj} person", "{Term} and proud"]
ADJS = ["nice", "proud", "awful", "tall", "disgusting", "happy"]
BASE_TERMS = ["gay", "muslim", "jewish", "middle eastern"]


def random_fixture(seed=0, n=400, terms=BASE_TERMS):
    rng = np.random.default_rng(seed)
    texts, labels, scores = [], [], []
    for _ in range(n):
        tpl = TEMPLATES[rng.integers(len(TEMPLATES))]
        term, term2 = rng.choice(terms, 2, replace=False)
        adj = ADJS[rng.integers(len(ADJS))]
        texts.append(tpl.format(adj=adj, term=term, term2=term2, Term=term.upper()))
        toxic = rng.random() < (0.7 if adj in ("awful", "disgusting") else 0.25)
        labels.append(int(toxic))
        bias = 0.15 if "gay" in texts[-1].lower() else 0.0
        scores.append(float(np.clip(0.3 + 0.3 * toxic + bias + rng.normal(0, 0.2), 0, 1)))
    return texts, np.round(scores, 2), np.array(labels)


def test_random_fixture_has_ties_and_grid_scores():
    _, scores, _ = random_fixture()
    assert len(np.unique(scores)) < len(scores) / 3  # many ties
    assert np.isin(scores, GRID).any()  # scores sitting exactly on grid thresholds (>= is then decisive)


def _check_against_reference(texts, scores, labels, terms, fped_terms):
    df = ref_frame(texts, scores, labels, terms)
    masks = term_masks(texts, terms)
    np.testing.assert_array_equal(masks, df[terms].to_numpy(bool))

    thr = equal_error_rate_threshold(scores, labels)
    ref_thr = ref_eer(df)
    assert thr == ref_thr

    fped, fned = fped_fned(scores, labels, masks, thr)
    ref_tned = ref_tnr_difference(df, fped_terms, ref_thr)
    ref_fned = ref_fnr_difference(df, terms, ref_thr)
    assert fped == pytest.approx(ref_tned, abs=TOL)  # |TNR − TNR_t| = |FPR − FPR_t|
    assert fned == pytest.approx(ref_fned, abs=TOL)

    a = auc_table(scores, labels, masks, terms)
    ref = np.array([ref_aucs(df, t) for t in terms])
    np.testing.assert_allclose(a[["subgroup_auc", "bpsn_auc", "bnsp_auc"]].to_numpy(), ref, atol=TOL, rtol=0)

    summary, table = toxicity_metrics(scores, labels, texts, terms, n_resamples=49, seed=3)
    assert summary["threshold"].estimate == ref_thr
    assert summary["auc"].estimate == pytest.approx(roc_auc_score(df.label, df.score), abs=TOL)
    assert summary["fpr"].estimate == pytest.approx(1 - ref_tnr(df, ref_thr), abs=TOL)
    assert summary["fnr"].estimate == pytest.approx(ref_fnr(df, ref_thr), abs=TOL)
    assert summary["fped"].estimate == pytest.approx(ref_tned, abs=TOL)
    assert summary["fned"].estimate == pytest.approx(ref_fned, abs=TOL)
    np.testing.assert_allclose(table[["subgroup_auc", "bpsn_auc", "bnsp_auc"]].to_numpy(), ref, atol=TOL, rtol=0)
    for j, t in enumerate(terms):
        sub = df[df[t]]
        if t in fped_terms:
            assert table.fpr[j] == pytest.approx(1 - ref_tnr(sub, ref_thr), abs=TOL)
        else:
            assert math.isnan(table.fpr[j])
        assert table.fnr[j] == pytest.approx(ref_fnr(sub, ref_thr), abs=TOL)
    assert summary["n_terms_fped"] == len(fped_terms)
    assert summary["n_terms_fned"] == len(terms)
    return df, summary, table


def test_matches_upstream_random_fixture():
    texts, scores, labels = random_fixture()
    _check_against_reference(texts, scores, labels, BASE_TERMS, BASE_TERMS)


def test_matches_upstream_term_without_negatives():
    texts, scores, labels = random_fixture(seed=5, n=380)
    rng = np.random.default_rng(11)
    extra = [f"lesbian people are {a}" for a in rng.choice(ADJS, 20)]
    texts = texts + extra
    scores = np.concatenate([scores, np.round(rng.uniform(0.3, 1.0, 20), 2)])
    labels = np.concatenate([labels, np.ones(20, dtype=int)])  # "lesbian" occurs only in toxic items
    terms = BASE_TERMS + ["lesbian"]
    df = ref_frame(texts, scores, labels, terms)
    # upstream divides by zero on the lesbian subgroup's negatives
    with pytest.raises(ZeroDivisionError):
        ref_tnr_difference(df, terms, ref_eer(df))
    _, summary, table = _check_against_reference(texts, scores, labels, terms, BASE_TERMS)
    assert summary["n_terms_fped"] == 4
    row = table.set_index("term").loc["lesbian"]
    assert row.n_negative == 0 and row.n_positive == 20
    assert math.isnan(row.fpr) and math.isnan(row.subgroup_auc) and math.isnan(row.bpsn_auc)
    assert np.isfinite(row.bnsp_auc) and np.isfinite(row.fnr)


# --------------------------------------------------------------------------- weighted AUC


def test_weighted_auc_matches_sklearn():
    rng = np.random.default_rng(2)
    for _ in range(5):
        n = 60
        scores = np.round(rng.random(n), 1)  # heavy ties
        labels = rng.integers(0, 2, n)
        weights = rng.integers(0, 4, n)  # zeros included
        ours = weighted_auc(scores, labels, weights)
        assert ours == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights), abs=TOL)
        # integer weights are multiplicities
        rep = np.repeat(np.arange(n), weights)
        assert ours == pytest.approx(roc_auc_score(labels[rep], scores[rep]), abs=TOL)
        assert weighted_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=TOL)
    assert math.isnan(weighted_auc([0.1, 0.2], [1, 1]))


# --------------------------------------------------------------------------- bootstrap


def _mean_interval(x, seed=0, n_resamples=199):
    def statistic(w):
        return (w @ x / w.sum(axis=1))[:, None]

    return bootstrap_statistics(statistic, x.size, ["mean"], n_resamples=n_resamples, seed=seed)["mean"]


def test_bootstrap_is_a_real_resampling():
    rng = np.random.default_rng(4)
    small, large = rng.normal(1.0, 2.0, 40), rng.normal(1.0, 2.0, 1600)
    e_small, e_large = _mean_interval(small), _mean_interval(large)
    assert e_small.estimate == pytest.approx(small.mean(), abs=TOL)
    assert e_large.estimate == pytest.approx(large.mean(), abs=TOL)
    for e in (e_small, e_large):
        assert e.low < e.estimate < e.high
        assert e.resamples == 199 and e.level == 0.95
    w_small, w_large = e_small.high - e_small.low, e_large.high - e_large.low
    assert w_large < w_small / 3  # 40× the items: about 1/sqrt(40) ≈ 0.16 the width
    # the width is about that of the mean's normal interval, 2·1.96·sd/sqrt(n)
    for x, w in ((small, w_small), (large, w_large)):
        assert w == pytest.approx(2 * 1.96 * x.std(ddof=1) / math.sqrt(x.size), rel=0.3)
    again = _mean_interval(small)
    assert (again.low, again.high) == (e_small.low, e_small.high)
    other = _mean_interval(small, seed=1)
    assert (other.low, other.high) != (e_small.low, e_small.high)
    with pytest.raises(ValueError, match="at least 2"):
        _mean_interval(np.array([1.0]))


def test_bootstrap_drops_undefined_resamples():
    x = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0])

    def statistic(w):  # undefined when item 0 is not drawn
        v = w @ x
        return np.where(v > 0, v, np.nan)[:, None]

    e = bootstrap_statistics(statistic, x.size, ["v"], n_resamples=199, seed=0)["v"]
    # P(item 0 not drawn in 6 draws) = (5/6)^6 ≈ 0.33
    assert 90 < e.resamples < 175
    assert e.low >= 1


def _captured_statistic(monkeypatch, run):
    """The statistic a metric hands to bootstrap_statistics (B × n weights → B × K values) and its names."""
    import babybias.downstream.estimates as m  # both metric families call estimates.bootstrap_statistics

    seen, original = {}, m.bootstrap_statistics

    def spy(statistic, n, names, **kw):
        if "statistic" not in seen:  # the first call: every metric (bios_metrics re-runs one for GAP_RMS_corrected)
            seen["statistic"], seen["names"] = statistic, list(names)
        return original(statistic, n, names, **kw)

    monkeypatch.setattr(m, "bootstrap_statistics", spy)
    run()
    return seen["statistic"], seen["names"]


def test_toxicity_resample_weights_equal_repeated_items(monkeypatch):
    # every resample re-runs the whole procedure (threshold included): with item multiplicities as
    # weights the statistic equals the upstream restatement on the data with the items repeated
    texts, scores, labels = random_fixture(seed=1, n=150)
    terms = BASE_TERMS
    statistic, names = _captured_statistic(
        monkeypatch, lambda: toxicity_metrics(scores, labels, texts, terms, n_resamples=9))
    rng = np.random.default_rng(8)
    n = len(texts)
    weights = rng.multinomial(n, np.full(n, 1 / n), size=6).astype(float)
    got = statistic(weights)
    base = ref_frame(texts, scores, labels, terms)
    for b in range(weights.shape[0]):
        df = base.iloc[np.repeat(np.arange(n), weights[b].astype(int))]
        thr = ref_eer(df)
        want = {"auc": roc_auc_score(df.label, df.score), "threshold": thr, "fpr": 1 - ref_tnr(df, thr),
                "fnr": ref_fnr(df, thr), "fped": ref_tnr_difference(df, terms, thr),
                "fned": ref_fnr_difference(df, terms, thr)}
        for t in terms:
            want[f"fpr/{t}"], want[f"fnr/{t}"] = 1 - ref_tnr(df[df[t]], thr), ref_fnr(df[df[t]], thr)
            want[f"subgroup_auc/{t}"], want[f"bpsn_auc/{t}"], want[f"bnsp_auc/{t}"] = ref_aucs(df, t)
        np.testing.assert_allclose(got[b], [want[k] for k in names], atol=TOL, rtol=0)


def test_bios_resample_weights_equal_repeated_items(monkeypatch):
    rng = np.random.default_rng(9)
    occ = ["doctor", "lawyer", "nurse", "plumber"]
    share = {"doctor": 0.4, "lawyer": 0.45, "nurse": 0.9, "plumber": 0.05}
    n = 120
    labels = rng.choice(occ, n)
    gender = np.where(rng.random(n) < 0.5, "female", "male")
    preds = np.where(rng.random(n) < 0.7, labels, rng.choice(occ, n))
    statistic, names = _captured_statistic(
        monkeypatch, lambda: bios_metrics(labels, preds, gender, share_female=share, n_resamples=9))
    weights = rng.multinomial(n, np.full(n, 1 / n), size=6).astype(float)
    got = statistic(weights)
    for b in range(weights.shape[0]):
        rep = np.repeat(np.arange(n), weights[b].astype(int))
        t = tpr_gaps(labels[rep], preds[rep], gender[rep], classes=occ, share_female=share)
        want = [np.mean(labels[rep] == preds[rep]), gap_rms(t.gap), gap_rms_corrected(t),
                gap_share_correlation(t.gap, t.share_female)[0]]
        want += t.gap.tolist()
        np.testing.assert_allclose(got[b], want, atol=1e-12, rtol=0)


def test_bios_metrics_point_estimates_and_gap_intervals():
    est, table = bios_metrics(BIO_LABELS, BIO_PREDS, BIO_GENDER, n_resamples=99, seed=0)
    ref = tpr_gaps(BIO_LABELS, BIO_PREDS, BIO_GENDER)
    assert est["accuracy"].estimate == pytest.approx(8 / 12, abs=TOL)
    assert est["gap_rms"].estimate == pytest.approx(gap_rms(ref.gap), abs=TOL)
    assert math.isnan(est["gap_share_pearson"].estimate)
    np.testing.assert_allclose(table.gap, ref.gap, atol=TOL)
    plumber = table.set_index("occupation").loc["plumber"]
    assert math.isnan(plumber.gap_low) and math.isnan(plumber.gap_high)  # no resample has a woman plumber

    # a larger random data set with shares
    rng = np.random.default_rng(7)
    occ = ["nurse", "doctor", "plumber", "teacher", "lawyer"]
    share = {"nurse": 0.9, "doctor": 0.4, "plumber": 0.05, "teacher": 0.7, "lawyer": 0.45}
    n = 500
    labels = rng.choice(occ, n)
    gender = np.where(rng.random(n) < [share[o] for o in labels], "female", "male")
    p_correct = np.array([0.6 + 0.3 * (share[o] - 0.5) * (1 if g == "female" else -1) for o, g in zip(labels, gender)])
    preds = np.where(rng.random(n) < p_correct, labels, rng.choice(occ, n))
    est, table = bios_metrics(labels, preds, gender, share_female=share, n_resamples=99, seed=2)
    ref = tpr_gaps(labels, preds, gender, share_female=share)
    assert est["accuracy"].estimate == pytest.approx(np.mean(labels == preds), abs=TOL)
    assert est["gap_rms"].estimate == pytest.approx(gap_rms(ref.gap), abs=TOL)
    assert est["gap_share_pearson"].estimate == pytest.approx(gap_share_correlation(ref.gap, ref.share_female)[0],
                                                              abs=1e-10)
    np.testing.assert_allclose(table.gap, ref.gap, atol=TOL)
    defined = table.gap.notna()
    assert defined.all()
    assert (table.gap_low[defined] <= table.gap[defined]).all()
    assert (table.gap[defined] <= table.gap_high[defined]).all()
    for name, e in est.items():
        assert e.low <= e.estimate <= e.high and e.n == (len(occ) if name == "gap_share_pearson" else n)
    # the Pearson r's interval is Fisher z over the 5 occupations (a bootstrap one could exclude r: issue 19)
    r = est["gap_share_pearson"].estimate
    ci = stats.pearsonr(ref.gap, ref.share_female).confidence_interval(0.95)
    assert (est["gap_share_pearson"].low, est["gap_share_pearson"].high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert est["gap_share_pearson"].method == "Fisher z over occupations" and ci.low <= r <= ci.high
    boot, _ = bios_metrics(labels, preds, gender, share_female=share, n_resamples=99, seed=2, pearson_interval="bootstrap")
    assert boot["gap_share_pearson"].method == "bootstrap-percentile over items" and boot["gap_share_pearson"].n == n


# --------------------------------------------------------------------------- noise floor


def test_noise_floor_matches_unbiased_classifier():
    rng = np.random.default_rng(12345)
    T, n_neg, n_pos, rate = 20, 200, 100, 0.2
    per_term = n_neg + n_pos
    labels = np.tile(np.r_[np.zeros(n_neg, int), np.ones(n_pos, int)], T)
    masks = np.zeros((T * per_term, T), dtype=bool)
    for t in range(T):
        masks[t * per_term:(t + 1) * per_term, t] = True
    fpeds = []
    for _ in range(30):
        # predictions independent of the term: every term's FPR is 0.2 in expectation
        pred = np.where(labels == 1, rng.random(labels.size) < 0.7, rng.random(labels.size) < rate)
        fpeds.append(fped_fned(pred.astype(float), labels, masks, 0.5)[0])
    floor = noise_floor(rate, [n_neg] * T)
    # Σ_t sqrt(2/π)·sqrt(0.2·0.8/200) = 20 · 0.79788 · 0.028284 = 0.45135
    assert floor == pytest.approx(20 * math.sqrt(2 / math.pi) * math.sqrt(0.16 / 200), abs=TOL)
    assert np.mean(fpeds) == pytest.approx(floor, rel=0.25)
    # empty terms are left out; an undefined rate gives NaN
    assert noise_floor(rate, [n_neg] * T + [0]) == floor
    assert math.isnan(noise_floor(float("nan"), [10])) and math.isnan(noise_floor(0.2, [0, 0]))


# --------------------------------------------------------------------------- term matching


def test_term_masks_word_boundaries_and_case():
    texts = ["Gay pride", "gaydar", "I am gay.", "GAY!", "ungay", "middle eastern food", "Middle Eastern",
             "middle-eastern", "middleeastern", "the middle east"]
    m = term_masks(texts, ["gay", "middle eastern"])
    assert m[:, 0].tolist() == [True, False, True, True, False, False, False, False, False, False]
    assert m[:, 1].tolist() == [False, False, False, False, False, True, True, False, False, False]
    assert m.shape == (10, 2) and m.dtype == bool


# --------------------------------------------------------------------------- bad input


def test_bad_toxicity_input():
    with pytest.raises(ValueError, match="one length"):
        equal_error_rate_threshold([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        equal_error_rate_threshold([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.raises(ValueError, match="0/1"):
        fped_fned([0.1, 0.2], [0, 0.5], np.ones((2, 1), bool), 0.5)
    with pytest.raises(ValueError, match="one length"):
        weighted_auc([0.1, 0.2], [0, 1, 1])
    with pytest.raises(ValueError, match="non-finite"):
        equal_error_rate_threshold([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="masks must be"):
        toxicity_metrics([0.1, 0.9], [0, 1], terms=["a"], masks=np.ones((3, 1), bool), n_resamples=9)
    with pytest.raises(ValueError, match="texts has"):
        toxicity_metrics([0.1, 0.9], [0, 1], ["gay"], ["gay"], n_resamples=9)
    with pytest.raises(ValueError, match="give masks"):
        toxicity_metrics([0.1, 0.9], [0, 1], n_resamples=9)


def test_bad_bios_input():
    with pytest.raises(ValueError, match="gender must be 'female' or 'male'"):
        tpr_gaps(["nurse", "doctor"], ["nurse", "doctor"], ["female", "nonbinary"])
    with pytest.raises(ValueError, match="gender must be"):
        bios_metrics(["nurse", "doctor"], ["nurse", "doctor"], ["f", "m"], n_resamples=9)
    with pytest.raises(ValueError, match="differ in length"):
        tpr_gaps(["nurse", "doctor"], ["nurse", "doctor"], ["female"])
    with pytest.raises(ValueError, match="differ in length"):
        tpr_gaps(["nurse", "doctor", "nurse"], ["nurse", "doctor"], ["female", "male", "male"])
    with pytest.raises(ValueError, match="outside"):
        tpr_gaps(["nurse", "doctor"], ["nurse", "pilot"], ["female", "male"])
    with pytest.raises(ValueError, match="missing"):
        tpr_gaps(["nurse", None], ["nurse", "doctor"], ["female", "male"])


def test_term_masks_equal_the_plain_regex_on_tricky_text():
    """The literal pre-check that skips the regex never changes a mask: case, word boundaries, non-ASCII text
    (the Kelvin sign matches "k" and the long s "s" under IGNORECASE) and terms with regex syntax."""
    import re

    texts = ["Gay pride", "gaylord", "a GAY man", "old", "older folks", "\u212aurd", "kurd", "Chri\u017ftian",
             "christian", "muslims", "Muslim!", "black-american", "", "trans*", "gay\u00e9"]
    terms = ["gay", "old", "kurd", "christian", "muslim", "black", "african american", "trans\\w*", "gay.?"]
    naive = np.array([[bool(re.search(r"\b" + term + r"\b", t, flags=re.UNICODE | re.IGNORECASE)) for term in terms]
                      for t in texts])
    assert (term_masks(texts, terms) == naive).all()
    assert naive[5, 2] and naive[7, 3]  # the non-ASCII texts that match an ASCII term are kept

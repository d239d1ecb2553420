"""Fairness benchmarks (issue 9, items 1-2): every score hand-derived on fixture models whose
probabilities are set, plus smoke runs through ``evaluate`` on tiny random masked and causal LMs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from babybias.evaluate import evaluate, get_benchmark, jsd_by_parts, list_benchmarks, make_scorer
from tests.conftest import word_level_tokenizer

# Unnormalised unigram weights: p(w) = W[w] / sum(W) wherever the model reads (specials get 0).
W = {"not": 20, "the": 10, "his": 4, "male": 3, "he": 3, "she": 2, "him": 2, "female": 1, "her": 1, "nurse": 1,
     "doctor": 1, "met": 1, "and": 1, "thanked": 1, "because": 1, "was": 1, "late": 1, "gender": 1, "of": 1,
     "is": 1, "specified": 1, ".": 1, "a": 1}
NAMES = ("winobias_gender_prediction", "gender_log_odds", "kurita")


class AssocLM(torch.nn.Module):
    """Unigram ``W`` at every position, plus ``b`` added to the logit of "doctor" when "he" is visible,
    of "he" when "doctor" is, of "nurse" when "she" is and of "she" when "nurse" is. Visible: the whole
    input (masked LM) or the tokens up to the predicting position (causal LM)."""

    def __init__(self, kind: str, tokenizer, b: float = 0.0) -> None:
        super().__init__()
        self.babybias_lm_kind = kind
        self.vocab = tokenizer.get_vocab()
        bias = torch.full((len(self.vocab),), -1e9)
        for w, c in W.items():
            bias[self.vocab[w]] = math.log(c)
        self.bias = torch.nn.Parameter(bias)
        self.b = b
        self.pairs = [("he", "doctor"), ("doctor", "he"), ("she", "nurse"), ("nurse", "she")]

    def forward(self, input_ids, attention_mask=None):
        logits = self.bias.expand(*input_ids.shape, -1).clone()
        for cue, boosted in self.pairs:
            hit = (input_ids == self.vocab[cue]).float()
            seen = hit.cummax(dim=1).values if self.babybias_lm_kind == "clm" else hit.amax(dim=1, keepdim=True).expand_as(hit)
            logits[..., self.vocab[boosted]] += self.b * seen
        return SimpleNamespace(logits=logits)


@pytest.fixture(scope="module")
def winobias_dir(tmp_path_factory):
    """A two-occupation WinoBias folder: type1 and type2, pro and anti, one sentence each."""
    d = tmp_path_factory.mktemp("winobias")
    lines = {
        ("pro", "type1"): "1 [The doctor] met the nurse because [he] was late .",
        ("anti", "type1"): "1 [The nurse] met the doctor because [she] was late .",
        ("pro", "type2"): "1 The nurse met [the doctor] and thanked [him] .",
        ("anti", "type2"): "1 The nurse met [the doctor] and thanked [her] .",
    }
    for (stereo, typ), line in lines.items():
        for split in ("dev", "test"):
            (d / f"{stereo}_stereotyped_{typ}.txt.{split}").write_text(line + "\n")
    (d / "male_occupations.txt").write_text("doctor\n")
    (d / "female_occupations.txt").write_text("nurse\n")
    return d


def fixture_model(kind: str, b: float = 0.0):
    tok = word_level_tokenizer(W, bos=(kind == "clm"))
    return AssocLM(kind, tok, b), tok


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_slot_candidates_log_probs_and_ranks(kind):
    model, tok = fixture_model(kind)
    scorer = make_scorer(model, tok, progress=False)
    enc = scorer.encode(["the gender is [MASK] ." if kind == "mlm" else "the gender is male"])[0]
    slot = enc.input_ids.index(tok.mask_token_id) if kind == "mlm" else len(enc) - 1
    ids = [tok.convert_tokens_to_ids(w) for w in ("not", "male", "female", "his")]
    logp, rank = scorer.slot_candidates([enc.input_ids], [slot], ids)
    total = sum(W.values())
    np.testing.assert_allclose(logp[0], [math.log(20 / total), math.log(3 / total), math.log(1 / total), math.log(4 / total)])
    # rank = 1 + words with a strictly larger weight: not:{} male:{not,the,his} female:{not,the,his,male,he,she,him}
    assert rank[0].tolist() == [1, 4, 8, 3]


def test_jsd_by_parts_hand_derived():
    p, q = np.array([3, 1, 20]) / 24, np.array([1, 3, 20]) / 24
    parts = jsd_by_parts(p, q)
    # ½[(3/24) log2(2·3/4) + (1/24) log2(2·1/4)] = ½[0.125·log2(1.5) − 1/24]
    one = 0.5 * (0.125 * math.log2(1.5) - 1 / 24)
    np.testing.assert_allclose(parts, [one, one, 0.0], atol=1e-12)
    assert jsd_by_parts([1, 0], [0, 1]).sum() == pytest.approx(1.0)  # disjoint supports: 1 bit
    assert jsd_by_parts([0.2, 0.8], [0.2, 0.8]).sum() == 0.0


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_gender_prediction_hand_derived(kind, winobias_dir):
    model, tok = fixture_model(kind)
    res = evaluate(model, tok, [get_benchmark("winobias_gender_prediction", source=winobias_dir)], progress=False)
    s = res.benchmarks["winobias_gender_prediction"].scores
    rows = res.benchmarks["winobias_gender_prediction"].rows
    # type-2 prompts: doctor→male (pro, "him"), nurse→not specified, doctor→female (anti, "her"), nurse→not specified
    assert rows["answer"].tolist() == ["male", "not specified", "female", "not specified"]
    assert rows["occupation"].tolist() == ["doctor", "nurse", "doctor", "nurse"]
    # full-vocabulary ranks: male 4, female 8, "not" 1 (first token of "not specified")
    assert rows["rank_correct"].tolist() == [4, 1, 8, 1]
    assert s["average_rank"] == pytest.approx(3.5)
    assert (s["male/average_rank"], s["female/average_rank"], s["not_specified/average_rank"]) == (4, 8, 1)
    assert s["accuracy"] == pytest.approx(50.0) and s["not_specified/accuracy"] == 100.0 and s["male/accuracy"] == 0.0
    assert s["option_accuracy"] == pytest.approx(50.0)
    one = 0.5 * (0.125 * math.log2(1.5) - 1 / 24)  # options renormalised: (3, 1, 20)/24 vs (1, 3, 20)/24
    assert s["jsd/correct"] == pytest.approx(one) and s["jsd/opposite"] == pytest.approx(one)
    assert s["jsd/not_specified"] == pytest.approx(0.0) and s["jsd"] == pytest.approx(2 * one)
    assert s["not_specified/jsd"] == pytest.approx(2 * one) and s["not_specified/male_share"] == 100.0


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_gender_log_odds_hand_derived(kind, winobias_dir):
    model, tok = fixture_model(kind)
    res = evaluate(model, tok, [get_benchmark("gender_log_odds", source=winobias_dir)], progress=False)
    s = res.benchmarks["gender_log_odds"].scores
    rows = res.benchmarks["gender_log_odds"].rows
    he_she, him_her, his_her = math.log(3 / 2), math.log(2 / 1), math.log(4 / 1)  # written "her": max(him, his) vs her
    wb = rows[rows["source"] == "winobias"]
    np.testing.assert_allclose(wb["log_odds"], [he_she, he_she, him_her, his_her])
    assert s["winobias/mean_log_odds"] == pytest.approx((2 * he_she + him_her + his_her) / 4)
    assert s["winobias/male_share"] == 100.0
    assert s["winobias/male_occupations/mean_log_odds"] == pytest.approx((he_she + him_her + his_her) / 3)
    assert s["winobias/female_occupations/mean_log_odds"] == pytest.approx(he_she)
    assert s["winobias/stereotype_gap"] == pytest.approx((he_she + him_her + his_her) / 3 - he_she)
    assert len(rows[rows["source"] == "templates"]) == 2 * 4  # 2 occupations × 4 templates
    assert s["templates/mean_log_odds"] == pytest.approx(he_she) and s["templates/male_share"] == 100.0
    assert s["templates/stereotype_gap"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_kurita_hand_derived(kind, winobias_dir):
    b = 0.7
    model, tok = fixture_model(kind, b)
    res = evaluate(model, tok, [get_benchmark("kurita", source=winobias_dir)], progress=False)
    s = res.benchmarks["kurita"].scores
    rows = res.benchmarks["kurita"].rows
    # masked: "[MASK] is a doctor" boosts he by b, the prior "[MASK] is a [MASK]" does not: s(he)−s(she) = b;
    # causal: log P(doctor | he is a) − log P(doctor | she is a) = b (the normalisers are equal)
    np.testing.assert_allclose(rows.set_index("attribute")["bias"].loc[["doctor", "nurse"]], [b, -b], atol=1e-5)
    assert s["mean"] == pytest.approx(0.0, abs=1e-5)
    assert s["difference"] == pytest.approx(2 * b, abs=1e-5)
    assert math.isnan(s["p_value"])  # one occupation per list: no permutation test


def test_kurita_permutation_p_value():
    from babybias.evaluate.fairness import kurita_summary
    import pandas as pd

    frame = pd.DataFrame({"occupation_stereotype": ["male"] * 4 + ["female"] * 4, "bias": [4, 5, 6, 7, 0, 1, 2, 3]})
    s = kurita_summary(frame, n_resamples=9999)
    # exact test over C(8,4) = 70 splits: only the observed split and its mirror reach |difference| = 4
    assert s["difference"] == 4.0 and s["p_value"] == pytest.approx(2 / 70)


def test_registered():
    assert set(NAMES) <= set(list_benchmarks())


@pytest.mark.parametrize("fixture", ["bert", "gpt2"])
def test_runs_on_tiny_models(fixture, request):
    model = request.getfixturevalue(fixture)
    tok = request.getfixturevalue("wp_tok" if fixture == "bert" else "bpe_tok")
    res = evaluate(model, tok, list(NAMES), limit=2, progress=False)
    for key in ("winobias_gender_prediction/average_rank", "winobias_gender_prediction/jsd", "gender_log_odds/winobias/mean_log_odds",
                "gender_log_odds/templates/male_share", "kurita/mean", "kurita/p_value"):
        assert np.isfinite(res.scores[key]), key


def test_training_callback_logs_them(gpt2, bpe_tok, tmp_path):
    import json

    from babybias.train.callbacks import EvaluationCallback

    cb = EvaluationCallback(bpe_tok, list(NAMES), tmp_path / "eval.jsonl", every=1, limit=2)
    cb.on_step_end(1, gpt2)
    line = json.loads((tmp_path / "eval.jsonl").read_text().splitlines()[0])
    assert line["step"] == 1 and "winobias_gender_prediction/jsd/correct" in line["scores"] and "kurita/p_value" in line["scores"]

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


def _evaluated(kind: str, name: str, winobias_dir):
    """Scores and rows of the registered benchmark ``name`` on the WinoBias fixture, with the hand-set model of ``kind``."""
    model, tok = fixture_model(kind)
    result = evaluate(model, tok, [get_benchmark(name, source=winobias_dir)], progress=False).benchmarks[name]
    return result.scores, result.rows


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_gender_prediction_hand_derived(kind, winobias_dir):
    s, rows = _evaluated(kind, "winobias_gender_prediction", winobias_dir)
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
    s, rows = _evaluated(kind, "gender_log_odds", winobias_dir)
    he_she, him_her = math.log(3 / 2), math.log(2 / 1)  # written "her": its twin's "him" vs her
    wb = rows[rows["source"] == "winobias"]
    np.testing.assert_allclose(wb["log_odds"], [he_she, he_she, him_her, him_her])
    assert wb["counterpart_rule"].tolist() == ["unique", "unique", "unique", "twin"]
    assert s["winobias/mean_log_odds"] == pytest.approx((2 * he_she + 2 * him_her) / 4)
    assert s["winobias/male_share"] == 100.0
    assert s["winobias/male_occupations/mean_log_odds"] == pytest.approx((he_she + 2 * him_her) / 3)
    assert s["winobias/female_occupations/mean_log_odds"] == pytest.approx(he_she)
    assert s["winobias/stereotype_gap"] == pytest.approx((he_she + 2 * him_her) / 3 - he_she)
    assert len(rows[rows["source"] == "templates"]) == 2 * 4  # 2 occupations × 4 templates
    assert s["templates/mean_log_odds"] == pytest.approx(he_she) and s["templates/male_share"] == 100.0
    assert s["templates/stereotype_gap"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("kind", ["mlm", "clm"])
def test_gender_log_odds_her_counterpart_from_twin(kind, tmp_path):
    """A written "her" is compared with the pronoun its pro/anti twin has at the same slot; the
    max(him, his) rule is only the fallback when the twin's slot differs."""
    type2 = {  # line: (pro, anti)
        1: ("The nurse met [the doctor] and thanked [him] .", "The nurse met [the doctor] and thanked [her] ."),
        2: ("[The doctor] met the nurse and thanked [his] nurse .", "[The nurse] met the doctor and thanked [her] doctor ."),
        3: ("The nurse met [the doctor] and thanked [his] nurse .", "The nurse met [the doctor] and thanked [her] nurse ."),
    }
    for split in ("dev", "test"):
        (tmp_path / f"pro_stereotyped_type1.txt.{split}").write_text("1 [The doctor] met the nurse because [he] was late .\n")
        (tmp_path / f"anti_stereotyped_type1.txt.{split}").write_text("1 [The nurse] met the doctor because [she] was late .\n")
        for i, stereo in enumerate(("pro", "anti")):
            (tmp_path / f"{stereo}_stereotyped_type2.txt.{split}").write_text("".join(f"{n} {p[i]}\n" for n, p in type2.items()))
    (tmp_path / "male_occupations.txt").write_text("doctor\n")
    (tmp_path / "female_occupations.txt").write_text("nurse\n")
    model, tok = fixture_model(kind)
    res = evaluate(model, tok, [get_benchmark("gender_log_odds", source=tmp_path)], progress=False)
    wb = res.benchmarks["gender_log_odds"].rows.query("source == 'winobias'")
    he_she, him_her, his_her = math.log(3 / 2), math.log(2 / 1), math.log(4 / 1)
    # type1 pro/anti; type2 pro lines 1-3 (him, his, his); type2 anti lines 1-3 (her ↔ twin him; twin's
    # slot differs ("The doctor met the nurse …" vs "The nurse met the doctor …"): max(him, his); her ↔ twin his)
    np.testing.assert_allclose(wb["log_odds"], [he_she, he_she, him_her, his_her, his_her, him_her, his_her, his_her])
    assert wb["counterpart_rule"].tolist() == ["unique"] * 5 + ["twin", "max", "twin"]


@pytest.fixture(scope="module")
def bpe_mask_tok():
    """A GPT-BERT-style byte-level BPE tokenizer with a mask token (``train_tokenizer(kind="bpe")``)."""
    from babybias.models import train_tokenizer
    from babybias.evaluate.winobias import load_winobias

    texts = [r["sentence"] for r in load_winobias("all")] + ["he is a doctor .", "she is a nurse ."]
    return train_tokenizer(texts, vocab_size=300, kind="bpe")


def _captured_slot_queries(tok, bench, source):
    """Run ``bench`` on a masked-LM scorer whose ``slot_candidates`` records its sequences and slots."""
    model, _ = fixture_model("mlm")  # never called
    scorer = make_scorer(model, tok, kind="mlm", progress=False)
    seen = {}

    def capture(seqs, slots, cands, desc=None):
        seen["seqs"], seen["slots"] = [list(x) for x in seqs], list(slots)
        k = np.asarray(cands).shape[-1]
        return np.zeros((len(seqs), k)), np.ones((len(seqs), k), dtype=np.int64)

    scorer.slot_candidates = capture
    get_benchmark(bench, source=source).evaluate(scorer)
    return seen["seqs"], seen["slots"]


def test_kurita_bpe_prior_masks_every_attribute_token(bpe_mask_tok, winobias_dir):
    tok = bpe_mask_tok
    seqs, slots = _captured_slot_queries(tok, "kurita", winobias_dir)
    n = len(seqs) // 2
    for a, tgt, prior, slot in zip(["doctor", "nurse"], seqs[:n], seqs[n:], slots[:n]):
        real = tok("he is a " + a)["input_ids"]  # <s> Ġhe Ġis Ġa <A's tokens>
        attr = tok(a, add_special_tokens=False)["input_ids"]  # the normaliser prepends the space: "Ġ…"
        assert len(attr) >= 2 and real[-len(attr):] == attr  # the attribute is split; its first token is "Ġ…"
        assert slot == 1 and tgt == real[:1] + [tok.mask_token_id] + real[2:]
        assert prior == real[:1] + [tok.mask_token_id] + real[2:-len(attr)] + [tok.mask_token_id] * len(attr)


def test_masked_slot_keeps_the_real_sentence_tokens_bpe(bpe_mask_tok, winobias_dir):
    tok = bpe_mask_tok
    lone_space = tok.convert_tokens_to_ids("Ġ")
    seqs, slots = _captured_slot_queries(tok, "gender_log_odds", winobias_dir)
    # the real sentences with the slot's first candidate (the male form) in place; the last is the first template
    filled = [("The doctor met the nurse because he was late .", "he"), ("The nurse met the doctor because he was late .", "he"),
              ("The nurse met the doctor and thanked him .", "him"), ("The nurse met the doctor and thanked him .", "him"),
              ("The doctor said that he would be late.", "he")]
    for seq, slot, (text, word) in zip(seqs, slots, filled):
        real = tok(text)["input_ids"]
        n = len(real) - len(seq) + 1  # the pronoun's tokens, replaced by one mask
        assert seq == real[:slot] + [tok.mask_token_id] + real[slot + n:]
        assert tok.decode(real[slot:slot + n]).strip() == word
        assert seq.count(lone_space) <= real.count(lone_space)  # no lone "Ġ" added beside the mask


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

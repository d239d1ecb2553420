"""Post-model debiasers on LTG-BERT, GPT-BERT (both modes) and transformers BERT / GPT-2 of hidden size ≠ 768."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from babybias.debias import (INLP, SelfDebias, SentDebias, attach_projection, counterfactual_pairs, head_inputs,
                             inlp_sentences, lm_head, load_debiased, projection_of, save_debiased, self_debias_logits)
from babybias.testing import shipped_sentences

HIDDEN = 32


@pytest.fixture(scope="module")
def tokenizers():
    from babybias.models import train_tokenizer

    texts = shipped_sentences(per_paradigm=4)
    return {"bpe": train_tokenizer(texts, vocab_size=400, kind="bpe", min_frequency=2),
            "wordpiece": train_tokenizer(texts, vocab_size=400, kind="wordpiece", min_frequency=2)}


def _model(kind: str, tok):
    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    from babybias.models import GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM, LtgBertConfig, LtgBertForMaskedLM

    torch.manual_seed(0)
    small = dict(hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48)
    if kind == "ltg-bert":
        return LtgBertForMaskedLM(LtgBertConfig(vocab_size=len(tok), **small)).eval()
    if kind == "gpt-bert-clm":
        return GptBertForCausalLM(GptBertConfig(vocab_size=len(tok), **small)).eval()
    if kind == "gpt-bert-mlm":
        return GptBertForMaskedLM(GptBertConfig(vocab_size=len(tok), **small)).eval()
    if kind == "bert":
        return BertForMaskedLM(BertConfig(vocab_size=len(tok), max_position_embeddings=256, **small)).eval()
    if kind == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=HIDDEN, n_layer=1, n_head=2, n_positions=256)).eval()
    raise ValueError(kind)


KINDS = {"ltg-bert": "wordpiece", "gpt-bert-clm": "bpe", "gpt-bert-mlm": "bpe", "bert": "wordpiece", "gpt2": "bpe"}
TEXTS = ["he said that she was a nurse.", "the king spoke to his son.", "her mother is a doctor.",
         "the man and the woman left.", "a quiet room with a table."]


def _logits(model, tok, texts=TEXTS):
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_projection_acts_on_the_head_input_and_survives_saving(kind, tokenizers, tmp_path):
    tok = tokenizers[KINDS[kind]]
    model = _model(kind, tok)
    name, head = lm_head(model)
    rng = np.random.default_rng(0)
    v = rng.normal(size=HIDDEN)
    v /= np.linalg.norm(v)
    P = np.eye(HIDDEN) - np.outer(v, v)
    debiased = attach_projection(model, P, info={"method": "test"})
    assert projection_of(model) is None and np.allclose(projection_of(debiased), P, atol=1e-6)  # a copy
    # the head sees h P: its inputs, read where the projection acts, have no component along v
    h = head_inputs(debiased, tok, TEXTS)
    assert np.abs(h @ v).max() < 1e-5
    assert np.abs(head_inputs(model, tok, TEXTS) @ v).max() > 1e-3  # the original is untouched
    # identity projection = the original model's logits
    same = attach_projection(model, np.eye(HIDDEN))
    torch.testing.assert_close(_logits(same, tok), _logits(model, tok))
    assert not torch.allclose(_logits(debiased, tok), _logits(model, tok))
    # saved beside the weights and loaded back: the same logits
    save_debiased(debiased, tmp_path / "m", tok)
    again = load_debiased(tmp_path / "m")
    torch.testing.assert_close(_logits(again, tok), _logits(debiased, tok))


@pytest.mark.parametrize("kind", ["ltg-bert", "gpt-bert-clm", "bert"])
def test_sent_debias_removes_its_subspace(kind, tokenizers):
    tok = tokenizers[KINDS[kind]]
    model = _model(kind, tok)
    corpus = shipped_sentences(per_paradigm=2)
    debiaser = SentDebias(k=2, max_pairs=300).fit(model, tok, corpus)
    V = debiaser.subspace_
    assert V.shape == (2, HIDDEN) and np.allclose(V @ V.T, np.eye(2), atol=1e-6)
    debiased = debiaser.apply(model)
    assert np.abs(head_inputs(debiased, tok, TEXTS) @ V.T).max() < 1e-5  # projected states ⟂ the subspace
    assert debiaser.fit_stats_["n_pairs"] == 288  # bias-bench's batching: 300 - 300 % 32


def test_counterfactual_pairs_per_occurrence_variant_swaps_one_occurrence_at_a_time():
    from babybias.corpus import WordPairs

    a, b = counterfactual_pairs(["he saw his father.", "a table."], WordPairs.gender(), recipe="per-occurrence")
    assert a == ["he saw his father."] * 3
    assert b == ["she saw his father.", "he saw her father.", "he saw his mother."]


def test_inlp_sentences_word_boundary_variant_follows_its_recipe():
    texts = ["he went to the market with his dog today", "she went to the market with her cat today",
             "the weather was cold and grey all day long", "he and she went home together after that", "too short"]
    sentences, labels = inlp_sentences(texts, n_per_class=5, seed=0, recipe="word-boundary")
    assert sorted(labels.tolist()) == [0, 1, 2]  # both-gender and short sentences skipped
    for s, y in zip(sentences, labels):
        words = s.split()
        if y == 2:
            assert len(words) >= 5  # neutral: cut at word 4 or later
        else:
            assert words[0] in ("he", "she")  # biased: cut at or after the first attribute word
    with pytest.raises(ValueError, match="only 1 class"):
        inlp_sentences(["the weather was cold and grey all day"], n_per_class=5)


@pytest.mark.parametrize("kind", ["ltg-bert", "gpt-bert-mlm", "bert"])
def test_inlp_brings_a_held_out_classifier_to_the_majority_rate(kind, tokenizers):
    from babybias.corpus import wikipedia_sample

    tok = tokenizers[KINDS[kind]]
    model = _model(kind, tok)
    with pytest.warns(UserWarning, match="INLP removed 30 of the model's 32 hidden dimensions"):
        debiaser = INLP(n_per_class=500, n_iterations=10).fit(model, tok, wikipedia_sample())
    stats = debiaser.fit_stats_
    assert stats["test_accuracy_before"] > stats["test_majority_rate"] + 0.05  # gender was linearly decodable
    # male and neutral are both capped at 500, so a classifier with nothing left to read predicts either one:
    # the test share of the majority class (0.385) or of the other capped class (0.360) here
    assert abs(stats["test_accuracy_after"] - stats["test_majority_rate"]) <= 0.03
    P = debiaser.projection_
    assert np.allclose(P, P.T, atol=1e-6) and np.allclose(P @ P, P, atol=1e-6)
    ranks = [h["rank_removed"] for h in debiaser.history_]
    assert ranks == sorted(ranks) and ranks[-1] < HIDDEN  # not simply the whole space removed
    debiased = debiaser.apply(model)
    assert np.allclose(projection_of(debiased), P, atol=1e-6)


def test_self_debias_equals_its_formula_with_hand_set_probabilities():
    p = torch.tensor([[0.7, 0.2, 0.1]])
    pb1 = torch.tensor([[0.5, 0.45, 0.05]])
    pb2 = torch.tensor([[0.6, 0.1, 0.3]])
    out = self_debias_logits(p.log(), [pb1.log(), pb2.log()], decay=50.0, epsilon=0.01)
    # by hand: p_b = max(pb1, pb2) = (0.6, 0.45, 0.3); Δ = (0, 0.25, 0.2); α = (1, max(e^-12.5, .01), max(e^-10, .01))
    alpha = np.array([1.0, 0.01, 0.01])
    expect = np.array([0.7, 0.2, 0.1]) * alpha
    expect /= expect.sum()
    np.testing.assert_allclose(torch.softmax(out, -1).numpy()[0], expect, rtol=1e-5)
    alpha_mid = np.exp(-50 * 0.01)  # a small Δ keeps exp(−λΔ) above ε
    small = self_debias_logits(torch.tensor([[0.5, 0.5]]).log(), [torch.tensor([[0.49, 0.51]]).log()])
    got = torch.softmax(small, -1).numpy()[0]
    np.testing.assert_allclose(got, np.array([0.5, 0.5 * alpha_mid]) / (0.5 + 0.5 * alpha_mid), rtol=1e-5)
    # an underflowing probability stays finite (logits + log α, not the log of a renormalised softmax)
    extreme = self_debias_logits(torch.tensor([[0.0, -1000.0]]), [torch.tensor([[-1000.0, 0.0]])])
    assert torch.isfinite(extreme).all() and torch.isfinite(torch.log_softmax(extreme, -1)).all()


@pytest.mark.parametrize("kind", ["ltg-bert", "gpt-bert-clm", "gpt-bert-mlm", "bert"])
def test_self_debias_wraps_masked_and_causal_models(kind, tokenizers, tmp_path):
    from babybias.evaluate import evaluate

    tok = tokenizers[KINDS[kind]]
    model = _model(kind, tok)
    wrapped = SelfDebias(bias_types=("gender", "religion")).fit_apply(model, tok)
    texts = [f"he is a {tok.mask_token} nurse." if tok.mask_token else "he is a nurse."] + TEXTS[:2]
    before, after = _logits(model, tok, texts), _logits(wrapped, tok, texts)
    assert torch.isfinite(after).all() and after.shape == before.shape
    enc = tok(texts, padding=True, return_tensors="pt")
    changed = ~torch.isclose(after, before).all(-1)
    if wrapped.babybias_lm_kind == "mlm":
        assert (changed <= (enc["input_ids"] == tok.mask_token_id)).all()  # masked positions only
    else:
        assert changed.any()
    result = evaluate(wrapped, tok, ["crows_pairs"], limit=5, progress=False)  # the scorers accept it
    assert np.isfinite(result.scores["crows_pairs/overall"])
    wrapped.save_pretrained(tmp_path / "sd")
    tok.save_pretrained(tmp_path / "sd")
    torch.testing.assert_close(_logits(load_debiased(tmp_path / "sd"), tok, texts), after)


def test_unfitted_and_bad_inputs_say_what_is_wrong(tokenizers):
    tok = tokenizers["wordpiece"]
    model = _model("bert", tok)
    with pytest.raises(RuntimeError, match="not fitted"):
        SentDebias().apply(model)
    with pytest.raises(ValueError, match="projection must be 32 x 32"):
        attach_projection(model, np.eye(16))
    with pytest.raises(ValueError, match="no LM head named"):
        lm_head(model, "nope")
    with pytest.raises(ValueError, match="bias_types must be among"):
        SelfDebias(bias_types=("genderr",))  # options are checked at construction
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        SentDebias(k=0)
    with pytest.raises(ValueError, match="stop_at must be None or in"):
        INLP(stop_at=1.5)
    with pytest.raises(ValueError, match="n_iterations must be an integer >= 1"):
        INLP(n_iterations=0)
    with pytest.raises(ValueError, match="recipe must be one of"):
        SentDebias(recipe="bias_bench")
    with pytest.raises(ValueError, match="prefix_set must be one of"):
        SelfDebias(prefix_set="nope")


def test_inlp_can_stop_at_the_majority_rate(tokenizers):
    from babybias.corpus import wikipedia_sample

    tok = tokenizers["wordpiece"]
    model = _model("bert", tok)
    fixed = INLP(n_per_class=300, n_iterations=3).fit(model, tok, wikipedia_sample())
    stopped = INLP(n_per_class=300, n_iterations=80, stop_at=0.01).fit(model, tok, wikipedia_sample())
    last = stopped.history_[-1]
    assert not last["removed"] and last["dev_accuracy"] < last["majority_rate"] + 0.01  # it stopped there
    assert all(h["dev_accuracy"] >= h["majority_rate"] + 0.01 for h in stopped.history_[:-1])
    assert stopped.fit_stats_["rank_removed"] < HIDDEN and fixed.fit_stats_["iterations"] == 3


def test_race_and_religion_with_the_researchers_own_words(tokenizers):
    """No race/religion list is shipped (bias-bench's has no licence): pairs / attribute words are passed in."""
    from babybias.corpus import WordPairs

    tok = tokenizers["wordpiece"]
    model = _model("bert", tok)
    corpus = ["the black man spoke to the white woman today.", "a white car was parked by the black door.",
              "the christian and the muslim neighbours met.", "it was a quiet evening in the small town."] * 30
    race = SentDebias(pairs=WordPairs.from_pairs([("black", "white")], source="test"), max_pairs=100).fit(model, tok, corpus)
    assert race.fit_stats_["n_pairs"] == 96 and race.subspace_.shape == (1, HIDDEN)  # 100 - 100 % 32
    religion = INLP(bias_words=["christian", "muslim", "jewish"], n_per_class=30, n_iterations=2)
    assert religion.fit(model, tok, corpus).fit_stats_["class_counts"] == [1, 30]  # bias-bench skips repeats
    distinct = corpus + [f"the christian and the muslim neighbours met on day {i} ." for i in range(30)]
    assert religion.fit(model, tok, distinct).fit_stats_["class_counts"] == [30, 30]  # bias vs neutral
    wrapped = SelfDebias(bias_types=("race-color", "religion")).fit_apply(model, tok)
    assert len(wrapped.prefix_ids) == 2


def test_a_debiased_model_trains_further_and_keeps_its_projection(tokenizers, tmp_path):
    import datasets

    from babybias.train import get_recipe, train

    tok = tokenizers["wordpiece"]
    model = _model("ltg-bert", tok)
    debiased = SentDebias(max_pairs=100).fit(model, tok, shipped_sentences(per_paradigm=2)).apply(model)
    P = projection_of(debiased)
    cfg = get_recipe("bias_bench_cpt", objective="span", steps=2, batch_size=4, grad_accumulation=1, seq_length=32)
    corpus = datasets.Dataset.from_dict({"text": shipped_sentences(per_paradigm=2)})
    result = train(cfg, corpus, tok, tmp_path / "run", progress=False, init_from=debiased)
    again = load_debiased(result.final_dir)
    assert np.allclose(projection_of(again), P, atol=1e-6)
    torch.testing.assert_close(_logits(again, tok), _logits(result.model, tok))

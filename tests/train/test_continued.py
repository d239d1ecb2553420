"""Continued pre-training (intra-model debiasing): init_from a saved babybias model or a transformers model,
bias-bench's recipe, dropout, hidden-state loss hooks (BERT-ASE), and bias-bench's CDA data."""

from __future__ import annotations

import shutil

import datasets
import numpy as np
import pytest
import torch

from babybias.corpus import CDA, KeepAttributeUnits, Pipeline
from babybias.models import train_tokenizer
from babybias.testing import shipped_sentences
from babybias.train import (AttributeSubspaceLoss, dropout_debiasing, get_recipe, list_checkpoints, load_init_model,
                            train)

SMALL = dict(steps=10, batch_size=8, grad_accumulation=2, seq_length=32, log_every=2, save_every=4, keep_last=3)


@pytest.fixture(scope="module")
def corpus():
    return datasets.Dataset.from_dict({"text": shipped_sentences(per_paradigm=10)})


@pytest.fixture(scope="module")
def wordpiece(corpus):
    return train_tokenizer(corpus["text"], vocab_size=400, kind="wordpiece", min_frequency=2)


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_tokenizer(corpus["text"], vocab_size=400, kind="bpe", min_frequency=2)


@pytest.fixture(scope="module")
def saved_ltg(corpus, wordpiece, tmp_path_factory):
    """A babybias LTG-BERT trained a few steps and saved by train()."""
    cfg = get_recipe("tiny", model_type="ltg-bert", objective="span", steps=6, batch_size=8, seq_length=32,
                     model_overrides=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48))
    return train(cfg, corpus, wordpiece, tmp_path_factory.mktemp("ltg"), progress=False).final_dir


@pytest.fixture(scope="module")
def saved_bert(wordpiece, tmp_path_factory):
    """A transformers BertForMaskedLM of hidden size 32, saved as a hub model would be."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bert") / "bert"
    BertForMaskedLM(BertConfig(vocab_size=len(wordpiece), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=48, max_position_embeddings=64)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved_gpt2(bpe, tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("gpt2") / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(bpe), n_embd=32, n_layer=1, n_head=2, n_positions=64)).save_pretrained(folder)
    return folder


def _resume_equals_uninterrupted(cfg, corpus, tok, init_from, tmp_path, **kw):
    whole = train(cfg, corpus, tok, tmp_path / "whole", progress=False, init_from=init_from, **kw)
    part = train(cfg, corpus, tok, tmp_path / "part", stop_after=6, progress=False, init_from=init_from, **kw)
    assert part.steps == 6
    shutil.rmtree(tmp_path / "part" / "checkpoints" / "step_00000006")  # killed at 6: resume from step 4
    resumed = train(cfg, corpus, tok, tmp_path / "part", progress=False, init_from=init_from, **kw)
    assert resumed.steps == cfg.steps
    for (n, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), n
    assert [h["loss"] for h in whole.history] == [h["loss"] for h in resumed.history]
    return whole


def test_continuing_a_saved_babybias_model_resumes_bit_exactly(corpus, wordpiece, saved_ltg, tmp_path):
    cfg = get_recipe("bias_bench_cpt", objective="span", **SMALL)
    start = load_init_model(saved_ltg, cfg, wordpiece)
    whole = _resume_equals_uninterrupted(cfg, corpus, wordpiece, saved_ltg, tmp_path)
    fresh = train(cfg, corpus, wordpiece, tmp_path / "fresh", progress=False, init_from=start)
    assert [h["loss"] for h in fresh.history] == [h["loss"] for h in whole.history]  # a module or its folder: the same
    assert type(whole.model).__name__ == "LtgBertForMaskedLM" and (tmp_path / "whole" / "final" / "config.json").exists()


def test_continuing_a_transformers_bert_resumes_bit_exactly(corpus, wordpiece, saved_bert, tmp_path):
    cfg = get_recipe("bias_bench_cpt", **SMALL)  # token masking 15 %, AdamW 5e-5 linear
    whole = _resume_equals_uninterrupted(cfg, corpus, wordpiece, str(saved_bert), tmp_path)
    assert type(whole.model).__name__ == "BertForMaskedLM"
    assert len(list_checkpoints(tmp_path / "part" / "checkpoints")) == 3
    from transformers import BertForMaskedLM

    original = BertForMaskedLM.from_pretrained(saved_bert)
    moved = any(not torch.equal(a, b) for a, b in zip(original.state_dict().values(), whole.model.state_dict().values()))
    assert moved  # the weights were trained from the loaded ones


def test_continuing_a_causal_gpt2(corpus, bpe, saved_gpt2, tmp_path):
    cfg = get_recipe("bias_bench_cpt_causal", **SMALL | {"lr": 1e-3})
    result = train(cfg, corpus, bpe, tmp_path, progress=False, init_from=saved_gpt2)
    losses = [h["loss"] for h in result.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_dropout_debiasing_reaches_the_loaded_config(wordpiece, bpe, saved_bert, saved_gpt2):
    cfg = dropout_debiasing(get_recipe("bias_bench_cpt"))
    bert = load_init_model(saved_bert, cfg, wordpiece)
    assert (bert.config.hidden_dropout_prob, bert.config.attention_probs_dropout_prob) == (0.20, 0.15)
    gpt2 = load_init_model(saved_gpt2, cfg.replace(objective="causal"), bpe)
    assert (gpt2.config.resid_pdrop, gpt2.config.embd_pdrop, gpt2.config.attn_pdrop) == (0.20, 0.20, 0.15)
    with pytest.raises(ValueError, match="dropout overrides .* need init_from as a folder"):
        load_init_model(bert, cfg, wordpiece)
    import copy

    bigger = copy.deepcopy(bpe)
    bigger.add_tokens([f"newword{i}" for i in range(20)])  # ids the model has no embedding row for
    with pytest.raises(ValueError, match="pass the model's own tokenizer"):
        load_init_model(saved_gpt2, get_recipe("bias_bench_cpt_causal"), bigger)


def test_attribute_subspace_loss_by_hand(wordpiece, saved_bert):
    from transformers import BertForMaskedLM

    model = BertForMaskedLM.from_pretrained(saved_bert)
    hook = AttributeSubspaceLoss(model, wordpiece, weight=2.0)
    g = hook.direction
    assert g.shape == (32,) and torch.isclose(g.norm(), torch.tensor(1.0))
    from babybias.train import single_token_pairs

    he = single_token_pairs(wordpiece)[0][0]  # a gendered word's id
    excluded = set(hook.excluded.tolist())
    dog = next(i for i in range(len(wordpiece)) if i not in excluded)  # a neutral word's id
    assert he in excluded and wordpiece.cls_token_id in excluded
    ids = torch.tensor([[wordpiece.cls_token_id, he, dog, wordpiece.pad_token_id]])
    mask = torch.tensor([[1, 1, 1, 0]])
    hidden = torch.randn(1, 4, 32)
    value = hook(torch.zeros(1, 5), torch.zeros(1, dtype=torch.long), hidden=hidden, input_ids=ids, attention_mask=mask)
    # only "dog" counts: [CLS] is special, "he" is a gendered word, the last position is padding
    assert torch.isclose(value, 2.0 * (hidden[0, 2] @ g).abs())


def test_the_hidden_state_hook_trains_the_gender_projection_down(corpus, wordpiece, saved_bert, tmp_path):
    from babybias.debias import head_inputs

    cfg = get_recipe("bias_bench_cpt", **SMALL | {"steps": 20, "lr": 2e-3, "save_every": 100})
    from transformers import BertForMaskedLM

    hook = AttributeSubspaceLoss(BertForMaskedLM.from_pretrained(saved_bert), wordpiece, weight=5.0)
    plain = train(cfg, corpus, wordpiece, tmp_path / "plain", progress=False, init_from=saved_bert)
    ase = train(cfg, corpus, wordpiece, tmp_path / "ase", progress=False, init_from=saved_bert, loss_hooks=[hook])
    texts = shipped_sentences(per_paradigm=1)[:60]
    def projection(model):
        return float(np.abs(head_inputs(model, wordpiece, texts) @ hook.direction.numpy()).mean())
    assert projection(ase.model) < 0.5 * projection(plain.model)


def test_bias_bench_cda_keeps_only_units_with_an_attribute_word():
    ds = datasets.Dataset.from_dict({"text": ["he left.", "a table.", "her mother sang.", "the sky."]})
    out, (kept, cda) = Pipeline([KeepAttributeUnits(), CDA(two_sided=True)]).apply(ds)
    assert kept.units_removed == 2 and kept.words_removed == 4
    assert out["text"] == ["he left.", "she left.", "her mother sang.", "his father sang."]


def test_continuing_a_gpt_bert_with_its_own_hybrid_objective(corpus, bpe, tmp_path):
    cfg = get_recipe("tiny", steps=4, batch_size=8, seq_length=32, save_every=4,
                     model_overrides=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48))
    first = train(cfg, corpus, bpe, tmp_path / "first", progress=False)
    more = train(cfg.replace(steps=6, lr=1e-3), corpus, bpe, tmp_path / "more", progress=False, init_from=first.final_dir,
                 loss_hooks=[AttributeSubspaceLoss(first.model, bpe)])
    assert type(more.model).__name__ == "GptBertForCausalLM" and more.steps == 6
    assert np.isfinite([h["loss"] for h in more.history]).all()
    with pytest.raises(ValueError, match="needs a GPT-BERT to start from"):
        train(cfg, corpus, bpe, tmp_path / "bad", progress=False, init_from=_bert_like(bpe, tmp_path))


def _bert_like(tok, tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path / "bert_for_hybrid"
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=48)).save_pretrained(folder)
    return folder

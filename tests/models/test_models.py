"""LTG-BERT and GPT-BERT as transformers models: maths invariants, fast vs eager attention,
save/load, Auto classes, conversion from reference-named checkpoints, tokenizers."""

from __future__ import annotations

import re

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSequenceClassification

from babybias.models import (GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM, LtgBertConfig, LtgBertForMaskedLM,
                             LtgBertForSequenceClassification, LtgBertModel)
from babybias.models._layers import (log_bucket_position, offset_rows, relative_position_bias, relative_position_indices,
                                     relative_shift)
from babybias.models.convert import convert_state_dict, from_reference

TINY = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40)


def tiny_ltg(cls=LtgBertForMaskedLM, **kw):
    torch.manual_seed(0)
    return cls(LtgBertConfig(**{**TINY, **kw})).eval()


def tiny_gpt(cls=GptBertForCausalLM, **kw):
    torch.manual_seed(0)
    model = cls(GptBertConfig(**{**TINY, **kw})).eval()
    with torch.no_grad():  # move the depth weights off their identity init so DWA is exercised
        for alpha in model.gpt_bert.dwa.alphas:
            alpha.add_(0.1 * torch.randn_like(alpha))
    return model


def batch(seed=1, b=3, t=24, vocab=120):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, vocab, (b, t), generator=g)


# --------------------------------------------------------------------------------- maths invariants


def test_bucket_known_values():
    r = torch.tensor([20, 64, 127, 511, 5000, 16, 15, 0, -20, -64, -127, -511])
    assert log_bucket_position(r, 32, 512).tolist() == [17, 23, 25, 31, 31, 16, 15, 0, -17, -23, -25, -31]
    idx = relative_position_indices(600, 32, 512)
    assert idx.min() == 0 and idx.max() == 62 and idx[0, 0] == 31 and idx[40, 20] == 31 + 17 and idx[20, 40] == 31 - 17


def test_ltg_bert_base_parameter_count():
    d, layers, inter, vocab, buckets = 768, 12, 2048, 16384, 32
    per_layer = (d * 2 * d + 2 * d) + (d * d + d) + (d * d + d) + 2 * d + d * 2 * inter + inter * d
    expected = vocab * d + (2 * buckets - 1) * d + 2 * d + layers * per_layer + (d * d + d) + vocab
    model = LtgBertForMaskedLM(LtgBertConfig.named("ltg-bert-base"))
    assert sum(p.numel() for p in model.parameters()) == expected == 98_229_760


def test_init_follows_the_reference_scheme():
    model = LtgBertForMaskedLM(LtgBertConfig.named("ltg-bert-small", vocab_size=2000))
    std = (2 / (5 * 384)) ** 0.5
    w = model.ltg_bert.layers[0].attention.qk_proj.weight
    assert w.abs().max() <= 2 * std + 1e-6 and abs(w.std().item() - std * 0.88) < 0.1 * std  # truncated at 2 sigma
    up0, up5 = (model.ltg_bert.layers[i].feed_forward.up_proj.weight.std().item() for i in (0, 5))
    assert up0 / up5 == pytest.approx((1 / 2 / (1 / 12)) ** 0.5, rel=0.05)  # sqrt(1/(2(l+1))) depth scaling
    assert model.ltg_bert.layers[0].attention.qk_proj.bias.abs().sum() == 0
    assert model.head.decoder.weight is model.ltg_bert.embeddings.word_embeddings.weight
    assert model.config.layer_norm_eps == 1e-7 and GptBertConfig().layer_norm_eps == 1e-5


@pytest.mark.parametrize("make", [tiny_ltg, lambda: tiny_gpt(GptBertForMaskedLM)], ids=["ltg-bert", "gpt-bert-mlm"])
def test_padding_changes_nothing_for_real_tokens(make):
    model = make()
    ids = batch(t=20)
    short = ids[1, :13]
    padded = ids.clone()
    padded[1, 13:] = model.config.pad_token_id
    mask = torch.ones_like(ids)
    mask[1, 13:] = 0
    with torch.no_grad():
        alone = model(short[None]).logits[0]
        batched = model(padded, attention_mask=mask).logits[1, :13]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_causal_mode_cannot_see_the_future():
    model = tiny_gpt()
    ids = batch()
    later = ids.clone()
    later[:, 15:] = torch.randint(5, 120, later[:, 15:].shape)
    with torch.no_grad():
        a, b = model(ids).logits, model(later).logits
    torch.testing.assert_close(a[:, :15], b[:, :15], atol=0, rtol=0)
    assert not torch.allclose(a[:, 15:], b[:, 15:])
    # bidirectional mode does see it
    mlm = tiny_gpt(GptBertForMaskedLM)
    with torch.no_grad():
        assert not torch.allclose(mlm(ids).logits[:, 1:15], mlm(later).logits[:, 1:15])


def test_documents_are_block_diagonal():
    model = tiny_gpt(GptBertForMaskedLM)
    ids = batch(b=1, t=20)
    docs = torch.tensor([[0] * 8 + [1] * 12])
    other = ids.clone()
    other[:, 8:] = torch.randint(5, 120, (1, 12))
    with torch.no_grad():
        a = model(ids, document_ids=docs).logits[:, 1:8]
        b = model(other, document_ids=docs).logits[:, 1:8]
        alone = model(ids[:, :8]).logits[:, 1:8]
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    torch.testing.assert_close(a, alone, atol=1e-5, rtol=1e-5)


def test_gpt_bert_modes_share_weights_and_mlm_logits_are_shifted():
    causal = tiny_gpt()
    mlm = GptBertForMaskedLM(causal.config).eval()
    mlm.load_state_dict(causal.state_dict())
    ids = batch()
    with torch.no_grad():
        hidden = mlm.gpt_bert(ids).last_hidden_state
        logits = mlm(ids).logits
        expected = mlm.head(hidden[:, :-1])
    torch.testing.assert_close(logits[:, 1:], expected)
    assert logits[:, 0].abs().sum() == 0
    labels = torch.full_like(ids, -100)
    labels[:, 5] = ids[:, 5]
    out = mlm(ids, labels=labels)
    torch.testing.assert_close(out.logits, expected[:, 4], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="position 0"):
        mlm(ids, labels=torch.where(torch.arange(ids.shape[1]) == 0, ids, -100))


# ----------------------------------------------------------------------------- eager vs fast paths


@pytest.mark.parametrize("make", [tiny_ltg, tiny_gpt, lambda: tiny_gpt(GptBertForMaskedLM)], ids=["ltg", "gpt-clm", "gpt-mlm"])
def test_fast_attention_equals_eager(make):
    model = make()
    ids = batch()
    mask = torch.ones_like(ids)
    mask[0, 17:] = 0
    with torch.no_grad():
        fast = model(ids, attention_mask=mask).logits
        model.set_attention_implementation("eager")
        eager = model(ids, attention_mask=mask).logits
    torch.testing.assert_close(fast, eager, atol=1e-5, rtol=1e-5)
    # bf16 autocast: the fast path stays within bf16 round-off of the fp32 eager reference
    model.set_attention_implementation("sdpa")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = model(ids, attention_mask=mask).logits.float()
    assert (bf16 - eager).abs().max() < 0.05 * eager.abs().max()


def test_gradients_agree_between_paths():
    model = tiny_ltg()
    ids = batch()
    labels = torch.where(torch.rand(ids.shape, generator=torch.Generator().manual_seed(0)) < 0.3, ids, -100)
    grads = {}
    for impl in ("sdpa", "eager"):
        model.zero_grad()
        model.set_attention_implementation(impl)
        model(ids, labels=labels).loss.backward()
        grads[impl] = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    torch.testing.assert_close(grads["sdpa"], grads["eager"], atol=1e-5, rtol=1e-4)


def test_torch_compile_traces_the_fast_path():
    model = tiny_ltg()
    ids = batch()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids).logits, model(ids).logits, atol=1e-5, rtol=1e-5)


def test_relative_shift_puts_each_offset_in_place():
    t, w = 5, 10
    full = torch.arange(2 * t * w, dtype=torch.float64).view(2, t, w)
    out = relative_shift(full)
    expected = torch.stack([torch.tensor([[full[b, i, j - i + t - 1] for j in range(t)] for i in range(t)]) for b in range(2)])
    assert torch.equal(out, expected)


def test_offset_rows_list_the_bucket_row_of_every_offset():
    t = 70  # beyond the exact region: log buckets
    idx = relative_position_indices(t, 32, 512)
    rows, flipped = offset_rows(idx)
    assert len(rows) == len(flipped) == 2 * t
    for c in range(2 * t - 1):
        q_minus_k = t - 1 - c
        q, k = (q_minus_k, 0) if q_minus_k >= 0 else (0, -q_minus_k)
        assert rows[c] == idx[q, k]
        q, k = (-q_minus_k, 0) if q_minus_k <= 0 else (0, q_minus_k)
        assert flipped[c] == idx[q, k]


def test_shifted_position_bias_equals_the_gathered_one_with_gradients():
    """The GPU form of the position terms (products with every offset's row, shifted into place) equals
    the gathered one, values and gradients, in float64."""
    torch.manual_seed(0)
    b, h, t, d, r = 2, 3, 45, 8, 63
    inputs = [torch.randn(b, h, t, d, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    inputs += [torch.randn(r, h, d, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    idx = relative_position_indices(t, 32, 512)
    weight = torch.randn(b, h, t, t, dtype=torch.float64)
    results = []
    for shift in (False, True):
        bias = relative_position_bias(*inputs, idx, shift=shift)
        grads = torch.autograd.grad((bias * weight).sum(), inputs)
        results.append((bias.detach(), grads))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-12, atol=1e-12)
    for a, e in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


def test_labels_select_positions_and_give_a_loss():
    model = tiny_ltg()
    ids = batch()
    labels = torch.full_like(ids, -100)
    labels[0, 3] = ids[0, 3]
    labels[2, 7] = ids[2, 7]
    out = model(ids, labels=labels)
    full = model(ids).logits
    torch.testing.assert_close(out.logits, full[[0, 2], [3, 7]], atol=1e-5, rtol=1e-5)
    expected = torch.nn.functional.cross_entropy(full[[0, 2], [3, 7]], ids[[0, 2], [3, 7]])
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_hidden_states_and_attentions():
    model = tiny_ltg()
    out = model.ltg_bert(batch(), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    assert out.attentions[0].shape == (3, 4, 24, 24)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(3, 4, 24), atol=1e-5, rtol=0)
    gpt = tiny_gpt().gpt_bert(batch(), causal=True, output_hidden_states=True)
    assert len(gpt.hidden_states) == 3


# -------------------------------------------------------------------------- transformers citizens


@pytest.mark.parametrize("cls,auto", [(LtgBertForMaskedLM, AutoModelForMaskedLM),
                                      (LtgBertForSequenceClassification, AutoModelForSequenceClassification),
                                      (GptBertForCausalLM, AutoModelForCausalLM), (GptBertForMaskedLM, AutoModelForMaskedLM)])
def test_save_and_auto_load_give_identical_logits(tmp_path, cls, auto):
    model = (tiny_ltg if cls.config_class is LtgBertConfig else tiny_gpt)(cls)
    ids = batch()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert AutoConfig.from_pretrained(tmp_path).model_type == model.config.model_type
    loaded = auto.from_pretrained(tmp_path).eval()
    assert type(loaded) is cls
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=0, rtol=0)
    if hasattr(loaded, "head") and loaded.head.decoder.weight.shape[0] == loaded.config.vocab_size:
        assert loaded.get_output_embeddings().weight is loaded.get_input_embeddings().weight
    assert isinstance(AutoModel.from_pretrained(tmp_path), torch.nn.Module)


def test_sequence_classification_loss():
    model = tiny_ltg(LtgBertForSequenceClassification, num_labels=3)
    out = model(batch(), labels=torch.tensor([0, 2, 1]))
    assert out.logits.shape == (3, 3) and out.loss.item() > 0
    out.loss.backward()


def test_invalid_config_is_refused():
    with pytest.raises(ValueError, match="multiple"):
        LtgBertConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="attention_implementation"):
        GptBertConfig(attention_implementation="flash")
    with pytest.raises(KeyError, match="ltg-bert-xs"):
        LtgBertConfig.named("ltg-bert-huge")


# ------------------------------------------------------------------------------------- conversion

# How the reference code names our parameters (written here independently of convert.py).
LTG_REFERENCE_NAMES = [
    (r"ltg_bert\.embeddings\.word_embeddings\.weight", "embedding.word_embedding.weight"),
    (r"ltg_bert\.embeddings\.relative_embeddings", "embedding.relative_embedding"),
    (r"ltg_bert\.embeddings\.relative_norm\.(\w+)", r"embedding.relative_layer_norm.\1"),
    (r"ltg_bert\.layers\.(\d+)\.attention\.qk_proj\.(\w+)", r"transformer.layers.\1.attention.in_proj_qk.\2"),
    (r"ltg_bert\.layers\.(\d+)\.attention\.v_proj\.(\w+)", r"transformer.layers.\1.attention.in_proj_v.\2"),
    (r"ltg_bert\.layers\.(\d+)\.attention\.out_proj\.(\w+)", r"transformer.layers.\1.attention.out_proj.\2"),
    (r"ltg_bert\.layers\.(\d+)\.attention\.post_norm\.(\w+)", r"transformer.layers.\1.attention.post_layer_norm.\2"),
    (r"ltg_bert\.layers\.(\d+)\.feed_forward\.up_proj\.weight", r"transformer.layers.\1.mlp.mlp.1.weight"),
    (r"ltg_bert\.layers\.(\d+)\.feed_forward\.down_proj\.weight", r"transformer.layers.\1.mlp.mlp.4.weight"),
    (r"head\.dense\.(\w+)", r"classifier.nonlinearity.1.\1"),
    (r"head\.decoder\.(\w+)", r"classifier.nonlinearity.5.\1"),
]
GPT_REFERENCE_NAMES = [
    (r"gpt_bert\.embeddings\.word_embeddings\.weight", "embedding.word_embedding.weight"),
    (r"gpt_bert\.embeddings\.relative_embeddings", "embedding.relative_embedding"),
    (r"gpt_bert\.embeddings\.relative_norm\.(\w+)", r"embedding.relative_layer_norm.\1"),
    (r"gpt_bert\.attention_layers\.(\d+)\.qk_proj\.(\w+)", r"transformer.attention_layers.\1.in_proj_qk.\2"),
    (r"gpt_bert\.attention_layers\.(\d+)\.vg_proj\.(\w+)", r"transformer.attention_layers.\1.in_proj_vg.\2"),
    (r"gpt_bert\.attention_layers\.(\d+)\.out_proj\.(\w+)", r"transformer.attention_layers.\1.out_proj.\2"),
    (r"gpt_bert\.mlp_layers\.(\d+)\.up_proj\.weight", r"transformer.mlp_layers.\1.mlp.1.weight"),
    (r"gpt_bert\.mlp_layers\.(\d+)\.down_proj\.weight", r"transformer.mlp_layers.\1.mlp.4.weight"),
    (r"gpt_bert\.dwa\.alphas\.(\d+)", r"transformer.dwa_modules.alphas.\1"),
    (r"head\.dense\.(\w+)", r"classifier.nonlinearity.1.\1"),
    (r"head\.decoder\.(\w+)", r"classifier.nonlinearity.5.\1"),
]


def to_reference(model, rules, layers_key):
    out = {}
    for name, tensor in model.state_dict().items():
        for pattern, target in rules:
            if re.fullmatch(pattern, name):
                out[re.sub(pattern, target, name)] = tensor.clone()
                break
        else:
            raise AssertionError(f"test mapping misses {name}")
    for i in range(model.config.num_hidden_layers):  # the reference's sequence-first position buffers
        out[layers_key.format(i)] = torch.zeros(512, 512, dtype=torch.long)
    return out


def test_convert_ltg_bert_reference_checkpoint(tmp_path):
    model = tiny_ltg()
    ref = to_reference(model, LTG_REFERENCE_NAMES, "transformer.layers.{}.attention.position_indices")
    assert ref["classifier.nonlinearity.5.weight"].data_ptr() != ref["embedding.word_embedding.weight"].data_ptr()
    converted = from_reference({"module." + k: v for k, v in ref.items()}, model.config)
    ids = batch()
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).logits, model(ids).logits, atol=0, rtol=0)
    torch.save(ref, tmp_path / "ckpt.bin")
    assert isinstance(from_reference(tmp_path / "ckpt.bin", model.config), LtgBertForMaskedLM)


def test_convert_gpt_bert_reference_checkpoint_into_both_modes():
    model = tiny_gpt()
    ref = to_reference(model, GPT_REFERENCE_NAMES, "transformer.attention_layers.{}.position_indices")
    ids = batch()
    causal = from_reference({"model": ref}, model.config, task="clm")
    mlm = from_reference(ref, model.config, task="mlm")
    with torch.no_grad():
        torch.testing.assert_close(causal(ids).logits, model(ids).logits, atol=0, rtol=0)
        assert isinstance(mlm, GptBertForMaskedLM)


def test_convert_refuses_unknown_missing_and_untied():
    model = tiny_ltg()
    ref = to_reference(model, LTG_REFERENCE_NAMES, "transformer.layers.{}.attention.position_indices")
    with pytest.raises(KeyError, match="no babybias counterpart"):
        convert_state_dict({**ref, "transformer.layers.0.attention.extra.weight": torch.zeros(1)}, "ltg-bert")
    with pytest.raises(KeyError, match="missing"):
        from_reference({k: v for k, v in ref.items() if "in_proj_v" not in k}, model.config)
    ref["classifier.nonlinearity.5.weight"] = ref["classifier.nonlinearity.5.weight"] + 1
    with pytest.raises(ValueError, match="tie"):
        from_reference(ref, model.config)


# ------------------------------------------------------------------------------------- tokenizers


@pytest.mark.parametrize("kind,specials", [("wordpiece", ("[CLS]", "[SEP]")), ("bpe", ("<s>", None))])
def test_train_tokenizer_recipes(kind, specials, tmp_path):
    from transformers import AutoTokenizer

    from babybias.models import train_tokenizer
    from babybias.testing import shipped_sentences

    texts = shipped_sentences(per_paradigm=20)
    tok = train_tokenizer(texts, vocab_size=600, kind=kind, min_frequency=2)
    again = train_tokenizer(texts, vocab_size=600, kind=kind, min_frequency=2)
    assert tok.get_vocab() == again.get_vocab() and len(tok) == 600
    ids = tok("The 42 developers argued.")["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[0] == specials[0] and (specials[1] is None or pieces[-1] == specials[1])
    assert "4" in [p.lstrip("Ġ") for p in pieces] if kind == "wordpiece" else True  # digits split one by one
    assert tok.mask_token is not None and tok.pad_token_id == 3
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)("The 42 developers argued.")["input_ids"] == ids


def test_evaluate_scores_our_models_on_every_benchmark():
    from babybias.evaluate import evaluate
    from babybias.models import train_tokenizer
    from babybias.testing import shipped_sentences

    names = ["crows_pairs", "stereoset", "winobias", "blimp"]
    for kind, cls, cfg in [("wordpiece", LtgBertForMaskedLM, LtgBertConfig), ("bpe", GptBertForMaskedLM, GptBertConfig),
                           ("bpe", GptBertForCausalLM, GptBertConfig)]:
        tok = train_tokenizer(shipped_sentences(per_paradigm=20), vocab_size=800, kind=kind, min_frequency=2)
        torch.manual_seed(0)
        model = cls(cfg(**{**TINY, "vocab_size": len(tok)})).eval()
        res = evaluate(model, tok, names, limit=4, progress=False)
        for key in ("crows_pairs/overall", "stereoset/overall/ss", "winobias/gap", "blimp/overall"):
            assert key in res.scores and res.scores[key] == res.scores[key], (cls.__name__, key)  # not NaN


def test_importing_babybias_registers_the_auto_classes():
    import subprocess
    import sys

    code = ("import babybias\nfrom transformers import AutoConfig, AutoModelForCausalLM\n"
            "cfg = AutoConfig.for_model('gpt-bert', vocab_size=50, hidden_size=16, num_hidden_layers=1, "
            "num_attention_heads=2, intermediate_size=8)\n"
            "print(type(AutoModelForCausalLM.from_config(cfg)).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("GptBertForCausalLM")

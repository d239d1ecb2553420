"""Released LTG-BERT / GPT-BERT checkpoints: the two published position-projection formulas,
how from_reference / from_hub pick one, either side of a tied pair in a checkpoint, and the
error when the hub cannot be reached.

The two ``published_*`` functions below are literal, sequence-first re-implementations of the
published LTG-BERT forward pass, written from the public sources (not imported from babybias):

* ``"training"`` — ltgoslo/ltg-bert ``babylm/train/model.py``: the projected relative table is
  gathered per (q, k) pair, then split into query/key halves, then into heads.
* ``"hub"`` — the ``modeling_ltgbert.py`` shipped with ``ltg/ltg-bert-babylm`` and
  ``babylm/ltgbert-{10,100}m-2024``: ``pos.view(-1, heads, 2 * head_size).chunk(2, dim=2)``,
  products against the table rows, then ``gather`` by bucket.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from babybias.models import GptBertConfig, LtgBertConfig, LtgBertForMaskedLM, LtgBertForSequenceClassification
from babybias.models.convert import config_from_reference, from_hub, from_reference

from .test_models import LTG_REFERENCE_NAMES, batch, to_reference

# small buckets so that T = 24 exercises the log-spaced buckets too
SMALL = dict(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40,
             position_bucket_size=8, max_position_embeddings=64)
AUTO_MAP = {"AutoConfig": "configuration_ltgbert.LtgBertConfig", "AutoModelForMaskedLM": "modeling_ltgbert.LtgBertForMaskedLM"}


def published_buckets(length: int, bucket_size: int, max_position: int) -> torch.Tensor:
    """``position_indices`` of the published code: bucket_size − 1 + log-bucket(q − k)."""
    rel = torch.arange(length)[:, None] - torch.arange(length)[None, :]
    sign, mid = torch.sign(rel), bucket_size // 2
    abs_pos = torch.where((rel < mid) & (rel > -mid), mid - 1, rel.abs().clamp(max=max_position - 1))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / math.log((max_position - 1) / mid) * (mid - 1)).int() + mid
    return bucket_size - 1 + torch.where(abs_pos <= mid, rel, log_pos * sign).long()


def published_ltg_bert_logits(w: dict, cfg: dict, ids: torch.Tensor, mask: torch.Tensor, variant: str) -> torch.Tensor:
    """MLM logits [B, T, V] of the published LTG-BERT (reference-named weights ``w``), eval mode."""
    heads, dim, eps = cfg["num_attention_heads"], cfg["hidden_size"], 1e-7
    d, (batch_size, length) = dim // heads, ids.shape
    scale = 1.0 / math.sqrt(3 * d)

    def norm(x, name=None):
        affine = (w[name + ".weight"], w[name + ".bias"]) if name else (None, None)
        return F.layer_norm(x, (x.shape[-1],), *affine, eps)

    def linear(x, name):
        return F.linear(x, w[name + ".weight"], w.get(name + ".bias"))

    x = norm(F.embedding(ids.t(), w["embedding.word_embedding.weight"]))  # [T, B, D]
    relative = norm(w["embedding.relative_embedding"], "embedding.relative_layer_norm")
    idx = published_buckets(length, cfg["position_bucket_size"], cfg["max_position_embeddings"])
    padding = ~mask.bool()[:, None, None, :]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"transformer.layers.{layer}."
        h = norm(x)
        query, key = linear(h, p + "attention.in_proj_qk").chunk(2, dim=2)
        value = linear(h, p + "attention.in_proj_v")
        query = query.reshape(length, batch_size * heads, d).transpose(0, 1)
        key = key.reshape(length, batch_size * heads, d).transpose(0, 1)
        value = value.reshape(length, batch_size * heads, d).transpose(0, 1)
        scores = torch.bmm(query, key.transpose(1, 2) * scale).view(batch_size, heads, length, length)
        query, key = query.view(batch_size, heads, length, d), key.view(batch_size, heads, length, d)
        pos = linear(relative, p + "attention.in_proj_qk")  # [2·bucket − 1, 2D]
        if variant == "training":
            pos = F.embedding(idx, pos)  # [T, T, 2D]
            query_pos, key_pos = pos.chunk(2, dim=-1)
            query_pos, key_pos = query_pos.view(length, length, heads, d), key_pos.view(length, length, heads, d)
            scores = scores + torch.einsum("bhqd,qkhd->bhqk", query, key_pos * scale)
            scores = scores + torch.einsum("bhkd,qkhd->bhqk", key * scale, query_pos)
        elif variant == "hub":
            query_pos, key_pos = pos.view(-1, heads, 2 * d).chunk(2, dim=2)
            c_p = torch.einsum("bhqd,khd->bhqk", query, key_pos * scale)
            p_c = torch.einsum("bhkd,qhd->bhqk", key * scale, query_pos)
            gather_idx = idx.expand(batch_size, heads, -1, -1)
            scores = scores + c_p.gather(3, gather_idx) + p_c.gather(2, gather_idx)
        else:
            raise ValueError(variant)
        probs = torch.softmax(scores.masked_fill(padding, float("-inf")), dim=-1)
        context = torch.bmm(probs.flatten(0, 1), value).transpose(0, 1).reshape(length, batch_size, dim)
        x = x + norm(linear(context, p + "attention.out_proj"), p + "attention.post_layer_norm")
        hidden, gate = F.linear(norm(x), w[p + "mlp.mlp.1.weight"]).chunk(2, dim=-1)
        x = x + F.linear(norm(hidden * F.gelu(gate, approximate="tanh")), w[p + "mlp.mlp.4.weight"])
    head = norm(F.gelu(linear(norm(x), "classifier.nonlinearity.1")))
    return linear(head, "classifier.nonlinearity.5").transpose(0, 1)


def random_ltg(cls=LtgBertForMaskedLM, **kw):
    """A tiny model with every bias and affine LayerNorm moved off its init, so all terms matter."""
    torch.manual_seed(0)
    model = cls(LtgBertConfig(**{**SMALL, **kw})).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(0.2 * torch.randn_like(param))
    return model


def reference_weights(model) -> dict:
    return to_reference(model, LTG_REFERENCE_NAMES, "transformer.layers.{}.attention.position_indices")


def padded_batch():
    ids = batch(t=24)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    return ids, mask


# ------------------------------------------------------------------------ item 7: two published maths


@pytest.mark.parametrize("variant,split", [("training", "split_then_heads"), ("hub", "heads_then_split")])
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_each_published_formula_is_matched_by_its_position_qk_split(variant, split, implementation):
    ref = reference_weights(random_ltg())
    ids, mask = padded_batch()
    model = from_reference(ref, LtgBertConfig(**SMALL), position_qk_split=split)
    assert model.config.position_qk_split == split
    model.set_attention_implementation(implementation)
    with torch.no_grad():
        expected = published_ltg_bert_logits(ref, SMALL, ids, mask, variant)
        torch.testing.assert_close(model(ids, attention_mask=mask).logits, expected, atol=1e-5, rtol=1e-5)


def test_the_two_published_formulas_differ_on_the_same_weights():
    ref = reference_weights(random_ltg())
    ids, mask = padded_batch()
    with torch.no_grad():
        training = published_ltg_bert_logits(ref, SMALL, ids, mask, "training")
        hub = published_ltg_bert_logits(ref, SMALL, ids, mask, "hub")
        ours = {split: from_reference(ref, LtgBertConfig(**SMALL), position_qk_split=split)(ids, attention_mask=mask).logits
                for split in ("split_then_heads", "heads_then_split")}
    assert (training - hub).abs().max() > 1e-2
    assert (ours["split_then_heads"] - ours["heads_then_split"]).abs().max() > 1e-2


def test_models_built_in_babybias_keep_the_training_code_maths():
    assert LtgBertConfig().position_qk_split == "split_then_heads" == GptBertConfig().position_qk_split
    model = random_ltg()
    ref = reference_weights(model)
    ids, mask = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=mask).logits,
                                   published_ltg_bert_logits(ref, SMALL, ids, mask, "training"), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="position_qk_split"):
        LtgBertConfig(position_qk_split="per_head")


def test_config_from_reference_picks_the_published_split():
    reference = {k: v for k, v in SMALL.items()}
    assert config_from_reference(reference, "ltg-bert").position_qk_split == "split_then_heads"  # training checkpoint
    assert config_from_reference({**reference, "auto_map": AUTO_MAP}, "ltg-bert").position_qk_split == "heads_then_split"
    # GPT-BERT's hub modeling file cuts like its training code
    assert config_from_reference({**reference, "auto_map": AUTO_MAP}, "gpt-bert").position_qk_split == "split_then_heads"
    explicit = config_from_reference({**reference, "auto_map": AUTO_MAP}, "ltg-bert", position_qk_split="split_then_heads")
    assert explicit.position_qk_split == "split_then_heads"
    with pytest.raises(ValueError, match="position_qk_split"):
        config_from_reference(reference, "ltg-bert", position_qk_split="hub")


def test_split_survives_save_and_load(tmp_path):
    model = random_ltg(position_qk_split="heads_then_split")
    model.save_pretrained(tmp_path)
    loaded = LtgBertForMaskedLM.from_pretrained(tmp_path).eval()
    ids = batch()
    assert loaded.config.position_qk_split == "heads_then_split"
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=0, rtol=0)


def fake_hub(monkeypatch, files: dict, offline: bool = False):
    """Serve ``files`` (name -> local path) as one hub repo; anything else is absent, or the hub
    unreachable if ``offline`` (the exception huggingface_hub raises then)."""
    import huggingface_hub
    from huggingface_hub import errors

    def download(repo_id, filename, revision=None, **kwargs):
        if filename in files:
            return str(files[filename])
        if offline:
            raise errors.LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub and we cannot "
                                                 "find the requested files in the local cache.\nPlease check your connection.")
        message = f"404 Client Error. Entry Not Found for url: {repo_id}/{filename}"
        if hasattr(errors, "RemoteEntryNotFoundError"):  # huggingface_hub >= 1.0: an HTTP error carrying the response
            response = SimpleNamespace(headers={}, request=None)
            raise errors.RemoteEntryNotFoundError(message, response=response)
        raise errors.EntryNotFoundError(message)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)


# The line that decides the cut, in each published form (one line each, as a fixture):
HUB_LTG_LINE = "        query_pos, key_pos = pos.view(-1, self.num_heads, 2*self.head_size).chunk(2, dim=2)\n"
NORBERT_LINE = "        query_pos, key_pos = pos.view(-1, 2, self.num_heads, self.head_size).chunk(2, dim=1)\n"
GPT_BERT_HUB_LINE = "        query_pos, key_pos = self.in_proj_qk(self.dropout(relative_embedding)).chunk(2, dim=-1)  # [2T-1, D]\n"
TRAINING_LINE = "        query_pos, key_pos = pos.chunk(2, dim=-1)\n"


def module(*lines: str) -> str:
    """A parsable modeling file holding ``lines`` in an attention forward pass."""
    return "import torch\n\n\nclass Attention:\n    def forward(self, pos, relative_embedding):\n" + "".join(lines)


def test_split_is_read_from_a_modeling_files_source():
    from babybias.models.convert import split_from_modeling_source

    assert split_from_modeling_source(module(HUB_LTG_LINE)) == "heads_then_split"
    for line in (NORBERT_LINE, GPT_BERT_HUB_LINE, TRAINING_LINE):
        assert split_from_modeling_source(module(line)) == "split_then_heads", line
    assert split_from_modeling_source("import torch\n") is None
    assert split_from_modeling_source(module(HUB_LTG_LINE, TRAINING_LINE)) is None  # disagreeing files are not guessed
    assert split_from_modeling_source("query_pos, key_pos = something_else(pos)\n") is None


def hub_repo(tmp_path, ref, modeling_source: str | None) -> dict:
    """Files of a hub LTG-BERT repo: config.json with auto_map, a hub conversion bot's safetensors
    (no shared tensors: the tie stored as the decoder weight only), optionally modeling_ltgbert.py."""
    save_file({k: v.contiguous() for k, v in ref.items() if k != "embedding.word_embedding.weight"},
              str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "auto_map": AUTO_MAP}))
    files = {"config.json": tmp_path / "config.json", "model.safetensors": tmp_path / "model.safetensors"}
    if modeling_source is not None:
        (tmp_path / "modeling_ltgbert.py").write_text(modeling_source)
        files["modeling_ltgbert.py"] = tmp_path / "modeling_ltgbert.py"
    return files


@pytest.mark.parametrize("line,variant", [(HUB_LTG_LINE, "hub"), (NORBERT_LINE, "training")], ids=["per-head-file", "split-first-file"])
def test_from_hub_runs_a_hub_ltg_bert_with_its_modeling_files_maths(tmp_path, monkeypatch, line, variant):
    ref = reference_weights(random_ltg())
    fake_hub(monkeypatch, hub_repo(tmp_path, ref, module(line)))
    ids, mask = padded_batch()
    model = from_hub("ltg/ltg-bert-babylm", "ltg-bert")
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=mask).logits,
                                   published_ltg_bert_logits(ref, SMALL, ids, mask, variant), atol=1e-5, rtol=1e-5)


def test_from_hub_rule_and_explicit_argument(tmp_path, monkeypatch):
    ref = reference_weights(random_ltg())
    fake_hub(monkeypatch, hub_repo(tmp_path, ref, None))  # no readable modeling file: the auto_map rule, with a warning
    ids, mask = padded_batch()
    with pytest.warns(UserWarning, match="position_qk_split='heads_then_split'"):
        model = from_hub("ltg/ltg-bert-babylm", "ltg-bert")
    explicit = from_hub("ltg/ltg-bert-babylm", "ltg-bert", position_qk_split="split_then_heads")
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=mask).logits,
                                   published_ltg_bert_logits(ref, SMALL, ids, mask, "hub"), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(explicit(ids, attention_mask=mask).logits,
                                   published_ltg_bert_logits(ref, SMALL, ids, mask, "training"), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ item 8: either side of a tie


@pytest.mark.parametrize("stored", ["classifier.nonlinearity.5.weight", "embedding.word_embedding.weight"])
def test_safetensors_with_one_side_of_the_tie(tmp_path, stored):
    model = random_ltg()
    ref = reference_weights(model)
    dropped = ({"classifier.nonlinearity.5.weight", "embedding.word_embedding.weight"} - {stored}).pop()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in ref.items() if k != dropped}, str(path))
    loaded = from_reference(path, model.config)
    assert loaded.head.decoder.weight is loaded.ltg_bert.embeddings.word_embeddings.weight
    ids = batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=0, rtol=0)


def test_untied_classifier_head_is_not_a_tie():
    model = random_ltg(LtgBertForSequenceClassification, num_labels=3)
    ref = reference_weights(model)
    assert ref["classifier.nonlinearity.5.weight"].shape == (3, SMALL["hidden_size"])
    loaded = from_reference(ref, model.config, task="sequence_classification")
    ids = batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, atol=0, rtol=0)


# ------------------------------------------------------------------ item 9: hub cannot be reached


@pytest.mark.parametrize("cached", [["config.json"], []], ids=["config-cached", "nothing-cached"])
def test_from_hub_offline_says_the_hub_could_not_be_reached(tmp_path, monkeypatch, cached):
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "auto_map": AUTO_MAP}))
    fake_hub(monkeypatch, {name: tmp_path / name for name in cached}, offline=True)
    with pytest.raises(ConnectionError) as info:
        from_hub("ltg/ltg-bert-babylm", "ltg-bert")
    message = str(info.value)
    assert "could not reach the Hugging Face hub" in message and "ltg/ltg-bert-babylm" in message
    assert "\n" not in message and "neither" not in message


def test_from_hub_missing_weights_on_a_reachable_hub_is_still_file_not_found(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps(SMALL))
    fake_hub(monkeypatch, {"config.json": tmp_path / "config.json"})
    with pytest.raises(FileNotFoundError, match="neither model.safetensors nor pytorch_model.bin"):
        from_hub("someone/ltg-bert-without-weights", "ltg-bert")


def test_from_hub_real_offline_call_with_an_empty_cache(tmp_path):
    code = ("from babybias.models.convert import from_hub\n"
            "try:\n    from_hub('babylm/ltgbert-10m-2024', 'ltg-bert')\n"
            "except Exception as e:\n    print(type(e).__name__ + ': ' + str(e))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, out.stdout + out.stderr
    assert lines[0].startswith("ConnectionError: could not reach the Hugging Face hub for babylm/ltgbert-10m-2024"), lines


def test_from_hub_offline_uses_whichever_weights_file_is_cached(tmp_path, monkeypatch):
    """Offline, a repo cached with config.json and pytorch_model.bin only (no safetensors, no
    modeling file) still loads: the missing files are tried in turn, not reported as unreachable."""
    ref = reference_weights(random_ltg())
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "auto_map": AUTO_MAP}))
    torch.save(ref, tmp_path / "pytorch_model.bin")
    fake_hub(monkeypatch, {n: tmp_path / n for n in ("config.json", "pytorch_model.bin")}, offline=True)
    ids, mask = padded_batch()
    with pytest.warns(UserWarning, match="position_qk_split='heads_then_split'"):  # modeling file not cached: the rule
        model = from_hub("ltg/ltg-bert-babylm", "ltg-bert")
    with torch.no_grad():
        torch.testing.assert_close(model(ids, attention_mask=mask).logits,
                                   published_ltg_bert_logits(ref, SMALL, ids, mask, "hub"), atol=1e-5, rtol=1e-5)


def test_split_is_read_from_a_formatted_multiline_assignment():
    from babybias.models.convert import split_from_modeling_source

    black = ("class A:\n    def f(self, pos):\n        query_pos, key_pos = pos.view(\n            -1, self.num_heads, 2 * self.head_size\n"
             "        ).chunk(\n            2, dim=2\n        )\n")
    assert split_from_modeling_source(black) == "heads_then_split"
    assert split_from_modeling_source("def broken(:\n" + HUB_LTG_LINE) is None  # unparsable: no guess

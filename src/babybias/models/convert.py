"""Load the released LTG-BERT / GPT-BERT checkpoints (reference parameter names) into our classes.

The reference code names parameters after its own modules (``embedding.word_embedding.weight``,
``transformer.layers.N.attention.in_proj_qk.weight``, ``classifier.nonlinearity.1.weight`` …)
and stores sequence-first ``position_indices`` buffers. :func:`convert_state_dict` renames
every key to ours, drops the buffers (we recompute them), and fails on any key it does not know
— nothing is silently ignored. :func:`from_reference` builds a model from such a state dict;
:func:`from_hub` downloads one (needs internet).

Hub repositories this targets (reference naming, ``config.json`` with the usual BERT field names):

* LTG-BERT: ``ltg/ltg-bert-babylm`` (BabyLM 2023, 100M words); the BabyLM 2024 organisers'
  LTG-Baseline checkpoints ``babylm/ltgbert-100m-2024`` and ``babylm/ltgbert-10m-2024``.
* GPT-BERT: ``ltg/gpt-bert-babylm-base`` and ``ltg/gpt-bert-babylm-small`` (BabyLM 2024).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch

from .gpt_bert import GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM
from .ltg_bert import LtgBertConfig, LtgBertForMaskedLM, LtgBertForSequenceClassification

_COMMON = [
    (r"embedding\.word_embedding\.weight", "{base}.embeddings.word_embeddings.weight"),
    (r"embedding\.relative_embedding", "{base}.embeddings.relative_embeddings"),
    (r"embedding\.relative_layer_norm\.(weight|bias)", r"{base}.embeddings.relative_norm.\1"),
    (r"(?:classifier|head)\.nonlinearity\.1\.(weight|bias)", r"head.dense.\1"),
    (r"(?:classifier|head)\.nonlinearity\.5\.(weight|bias)", r"head.decoder.\1"),
]
_RULES = {
    "ltg-bert": _COMMON + [
        (r"transformer\.layers\.(\d+)\.attention\.in_proj_qk\.(weight|bias)", r"{base}.layers.\1.attention.qk_proj.\2"),
        (r"transformer\.layers\.(\d+)\.attention\.in_proj_v\.(weight|bias)", r"{base}.layers.\1.attention.v_proj.\2"),
        (r"transformer\.layers\.(\d+)\.attention\.out_proj\.(weight|bias)", r"{base}.layers.\1.attention.out_proj.\2"),
        (r"transformer\.layers\.(\d+)\.attention\.post_layer_norm\.(weight|bias)", r"{base}.layers.\1.attention.post_norm.\2"),
        (r"transformer\.layers\.(\d+)\.mlp\.mlp\.1\.weight", r"{base}.layers.\1.feed_forward.up_proj.weight"),
        (r"transformer\.layers\.(\d+)\.mlp\.mlp\.4\.weight", r"{base}.layers.\1.feed_forward.down_proj.weight"),
    ],
    "gpt-bert": _COMMON + [
        (r"transformer\.attention_layers\.(\d+)\.in_proj_qk\.(weight|bias)", r"{base}.attention_layers.\1.qk_proj.\2"),
        (r"transformer\.attention_layers\.(\d+)\.in_proj_vg\.(weight|bias)", r"{base}.attention_layers.\1.vg_proj.\2"),
        (r"transformer\.attention_layers\.(\d+)\.out_proj\.(weight|bias)", r"{base}.attention_layers.\1.out_proj.\2"),
        (r"transformer\.mlp_layers\.(\d+)\.mlp\.1\.weight", r"{base}.mlp_layers.\1.up_proj.weight"),
        (r"transformer\.mlp_layers\.(\d+)\.mlp\.4\.weight", r"{base}.mlp_layers.\1.down_proj.weight"),
        (r"transformer\.dwa_modules\.alphas\.(\d+)", r"{base}.dwa.alphas.\1"),
    ],
}
_BASES = {"ltg-bert": "ltg_bert", "gpt-bert": "gpt_bert"}
_DROPPED = re.compile(r".*position_indices$")  # sequence-first buffers, recomputed by our models
_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")  # DDP, torch.compile, {"model": ...} wrappers


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], model_type: str) -> dict[str, torch.Tensor]:
    """Rename a reference-named state dict to babybias names (``model_type``: ltg-bert or gpt-bert)."""
    if model_type not in _RULES:
        raise ValueError(f"model_type must be one of {sorted(_RULES)}, got {model_type!r}")
    base = _BASES[model_type]
    rules = [(re.compile(pattern), target.replace("{base}", base)) for pattern, target in _RULES[model_type]]
    out, unknown = {}, []
    for key, tensor in state_dict.items():
        name = key
        while name.startswith(_WRAPPER_PREFIXES):
            name = name.split(".", 1)[1]
        if _DROPPED.match(name):
            continue
        for pattern, target in rules:
            if pattern.fullmatch(name):
                out[pattern.sub(target, name)] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f"{len(unknown)} {model_type} checkpoint key(s) have no babybias counterpart, e.g. {unknown[:5]}")
    return out


def config_from_reference(reference: Mapping, model_type: str, **overrides):
    """Our config from a reference ``config.json`` (same field names as BERT's)."""
    cls = LtgBertConfig if model_type == "ltg-bert" else GptBertConfig
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings", "position_bucket_size", "layer_norm_eps", "hidden_dropout_prob",
              "attention_probs_dropout_prob")
    return cls(**{k: reference[k] for k in fields if k in reference}, **overrides)


_CLASSES = {
    ("ltg-bert", "mlm"): LtgBertForMaskedLM,
    ("ltg-bert", "sequence_classification"): LtgBertForSequenceClassification,
    ("gpt-bert", "mlm"): GptBertForMaskedLM,
    ("gpt-bert", "clm"): GptBertForCausalLM,
}


def from_reference(state_dict: Mapping[str, torch.Tensor] | str | Path, config, task: str = "mlm"):
    """A babybias model (``task``: mlm, clm or sequence_classification) with reference weights.

    ``state_dict`` may be a path to a ``.bin``/``.pt``/``.safetensors`` file or a dict (a training
    checkpoint's ``{"model": ...}`` is unwrapped). Missing or unexpected keys are an error. A
    head decoder weight equal to the word embedding is the tie, not a separate weight.
    """
    model_type = config.model_type
    if (model_type, task) not in _CLASSES:
        raise ValueError(f"no {task!r} model for {model_type}; choose from {[t for m, t in _CLASSES if m == model_type]}")
    if isinstance(state_dict, (str, Path)):
        state_dict = _read_weights(Path(state_dict))
    if "model" in state_dict and isinstance(state_dict["model"], Mapping):
        state_dict = state_dict["model"]
    converted = convert_state_dict(state_dict, model_type)
    model = _CLASSES[(model_type, task)](config)
    tied_key = "head.decoder.weight"
    embedding_key = f"{_BASES[model_type]}.embeddings.word_embeddings.weight"
    if tied_key in converted and embedding_key in converted:
        if not torch.equal(converted[tied_key], converted[embedding_key]):
            raise ValueError("the checkpoint's head decoder weight differs from its word embedding, but our models tie them")
        del converted[tied_key]
    missing, unexpected = model.load_state_dict(converted, strict=False)
    missing = [k for k in missing if k != tied_key]
    if missing or unexpected:
        raise KeyError(f"checkpoint does not fit {type(model).__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    return model.eval()


def _read_weights(path: Path) -> Mapping[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def from_hub(repo_id: str, model_type: str, task: str = "mlm", revision: str | None = None):
    """Download a released checkpoint (reference naming) and convert it (needs internet)."""
    import json

    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError

    config = config_from_reference(json.loads(Path(hf_hub_download(repo_id, "config.json", revision=revision)).read_text()),
                                   model_type)
    for filename in ("model.safetensors", "pytorch_model.bin"):
        try:
            weights = hf_hub_download(repo_id, filename, revision=revision)
        except EntryNotFoundError:
            continue
        return from_reference(weights, config, task)
    raise FileNotFoundError(f"{repo_id} has neither model.safetensors nor pytorch_model.bin")

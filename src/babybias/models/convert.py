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

Which position-projection maths a checkpoint is run with (``config.position_qk_split``, see
:data:`babybias.models._layers.POSITION_QK_SPLITS`): an explicit ``position_qk_split`` argument
wins. Otherwise :func:`from_hub` reads (never runs) the modeling file named in ``config.json``'s
``auto_map`` and takes the cut it recognises there (:func:`split_from_modeling_source`); failing
that, :func:`published_position_qk_split` applies the rule: an LTG-BERT ``config.json`` with an
``auto_map`` (the hub repos, which ship the per-head ``modeling_ltgbert.py``) means
``"heads_then_split"``; anything else (training-code checkpoints, every GPT-BERT: its hub
modeling file cuts like the training code) means ``"split_then_heads"``.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Mapping, Sequence

import torch

from ._layers import POSITION_QK_SPLITS
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


def published_position_qk_split(reference: Mapping, model_type: str, position_qk_split: str | None = None) -> str:
    """The position-projection maths a checkpoint with reference ``config.json`` ``reference`` is
    published with: ``position_qk_split`` if given; else ``"heads_then_split"`` for an LTG-BERT
    config with an ``auto_map`` (hub repos run their own ``modeling_ltgbert.py``, which cuts per
    head); else ``"split_then_heads"`` (the training code; also GPT-BERT's hub modeling file)."""
    if position_qk_split is not None:
        if position_qk_split not in POSITION_QK_SPLITS:
            raise ValueError(f"position_qk_split must be one of {POSITION_QK_SPLITS}, got {position_qk_split!r}")
        return position_qk_split
    if model_type == "ltg-bert" and reference.get("auto_map"):
        return "heads_then_split"
    return "split_then_heads"


def split_from_modeling_source(source: str) -> str | None:
    """The ``position_qk_split`` a published modeling file's source uses, read from its
    ``query_pos, key_pos = ...`` assignments; None if there are none, one is unrecognised, they
    disagree, or the source does not parse.

    ``….view(-1, self.num_heads, 2*self.head_size).chunk(2, …)`` (hub ``modeling_ltgbert.py``)
    is ``"heads_then_split"``; ``….view(-1, 2, self.num_heads, self.head_size).chunk(2, dim=1)``
    and a plain ``….chunk(2, dim=-1)`` (training code, GPT-BERT hub file) are ``"split_then_heads"``.
    The source is parsed (``ast``), so line breaks and formatting inside the expression do not matter.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple)):
            continue
        if [getattr(e, "id", None) for e in node.targets[0].elts] != ["query_pos", "key_pos"]:
            continue
        rhs = re.sub(r"\s+", "", ast.unparse(node.value))
        if re.search(r"\.view\(-1,self\.num_heads,2\*self\.head_size\)\.chunk\(2,dim=(?:2|-1)\)$", rhs):
            found.add("heads_then_split")
        elif re.search(r"\.view\(-1,2,self\.num_heads,self\.head_size\)\.chunk\(2,dim=1\)$", rhs) or (
                rhs.endswith(".chunk(2,dim=-1)") and ".view(" not in rhs):
            found.add("split_then_heads")
        else:
            return None  # an assignment we do not recognise: do not guess
    return found.pop() if len(found) == 1 else None


def config_from_reference(reference: Mapping, model_type: str, position_qk_split: str | None = None, **overrides):
    """Our config from a reference ``config.json`` (same field names as BERT's); the position
    projection follows :func:`published_position_qk_split` unless ``position_qk_split`` is given."""
    cls = LtgBertConfig if model_type == "ltg-bert" else GptBertConfig
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings", "position_bucket_size", "layer_norm_eps", "hidden_dropout_prob",
              "attention_probs_dropout_prob")
    split = published_position_qk_split(reference, model_type, position_qk_split)
    return cls(**{k: reference[k] for k in fields if k in reference}, **{"position_qk_split": split, **overrides})


_CLASSES = {
    ("ltg-bert", "mlm"): LtgBertForMaskedLM,
    ("ltg-bert", "sequence_classification"): LtgBertForSequenceClassification,
    ("gpt-bert", "mlm"): GptBertForMaskedLM,
    ("gpt-bert", "clm"): GptBertForCausalLM,
}


def from_reference(state_dict: Mapping[str, torch.Tensor] | str | Path, config, task: str = "mlm",
                   position_qk_split: str | None = None):
    """A babybias model (``task``: mlm, clm or sequence_classification) with reference weights.

    ``state_dict`` may be a path to a ``.bin``/``.pt``/``.safetensors`` file or a dict (a training
    checkpoint's ``{"model": ...}`` is unwrapped). Missing or unexpected keys are an error. For
    models whose head is tied to the word embedding, either side of the tie may be stored (hub
    conversion bots keep only ``classifier.nonlinearity.5.weight``); if both are, they must be
    equal. ``position_qk_split`` overrides ``config.position_qk_split`` (build ``config`` with
    :func:`config_from_reference` to get the maths the checkpoint is published with).
    """
    model_type = config.model_type
    if (model_type, task) not in _CLASSES:
        raise ValueError(f"no {task!r} model for {model_type}; choose from {[t for m, t in _CLASSES if m == model_type]}")
    if position_qk_split is not None:
        if position_qk_split not in POSITION_QK_SPLITS:
            raise ValueError(f"position_qk_split must be one of {POSITION_QK_SPLITS}, got {position_qk_split!r}")
        config = copy.deepcopy(config)
        config.position_qk_split = position_qk_split
    if isinstance(state_dict, (str, Path)):
        state_dict = _read_weights(Path(state_dict))
    if "model" in state_dict and isinstance(state_dict["model"], Mapping):
        state_dict = state_dict["model"]
    converted = convert_state_dict(state_dict, model_type)
    model = _CLASSES[(model_type, task)](config)
    tied_key = "head.decoder.weight"
    embedding_key = f"{_BASES[model_type]}.embeddings.word_embeddings.weight"
    tied = tied_key in (getattr(model, "_tied_weights_keys", None) or {})
    if tied and tied_key in converted:
        if embedding_key not in converted:  # only the decoder side of the tie was stored
            converted[embedding_key] = converted[tied_key]
        elif not torch.equal(converted[tied_key], converted[embedding_key]):
            raise ValueError(f"checkpoint key {tied_key!r} differs from {embedding_key!r}, but {type(model).__name__} ties them")
        del converted[tied_key]
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if tied:
        missing = [k for k in missing if k != tied_key]
    if missing or unexpected:
        raise KeyError(f"checkpoint does not fit {type(model).__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    return model.eval()


class WeightsFileError(ValueError):
    """A model weights file that cannot be read (empty, truncated, not a weights file); names the file."""


def check_weight_file(path: str | Path) -> None:
    """Raise :class:`WeightsFileError` naming ``path`` when its header shows it empty, truncated or not a
    ``.safetensors`` / PyTorch (zip or pickle) weights file. Reads the header only, never the tensors."""
    import zipfile

    path = Path(path)
    again = "copy or download it again, or save the model again with save_pretrained"
    if path.stat().st_size == 0:
        raise WeightsFileError(f"weights file {path} is empty (0 bytes): {again}")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except SafetensorError as err:
            raise WeightsFileError(f"weights file {path} is truncated or not a safetensors file ({err}): {again}") from None
        return
    if zipfile.is_zipfile(path):  # torch.save's format since PyTorch 1.6
        return
    with path.open("rb") as f:
        if f.read(1) != b"\x80":  # the legacy format is a pickle (protocol >= 2)
            raise WeightsFileError(f"weights file {path} is truncated or not a PyTorch weights file "
                                   f"(neither a readable zip nor a pickle): {again}")


def check_weight_files(folder: str | Path) -> None:
    """:func:`check_weight_file` on the weights ``from_pretrained`` would read in a save_pretrained ``folder``:
    its ``model*.safetensors`` files, else its ``pytorch_model*.bin`` files."""
    folder = Path(folder)
    files = sorted(folder.glob("model*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    for path in files:
        check_weight_file(path)


def _read_weights(path: Path) -> Mapping[str, torch.Tensor]:
    check_weight_file(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class _HubUnreachable(Exception):
    """A hub file that is neither cached nor downloadable now (no network, or offline mode)."""


def _hub_file(repo_id: str, filename: str, revision: str | None) -> str | None:
    """Local path of ``filename`` in ``repo_id`` (downloaded or cached); None if the hub says the
    repo has no such file; :class:`_HubUnreachable` if it is not cached and the hub cannot be reached."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return hf_hub_download(repo_id, filename, revision=revision)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):  # LocalEntryNotFoundError subclasses EntryNotFoundError
        raise _HubUnreachable(filename) from None
    except EntryNotFoundError:
        return None


def _unreachable(repo_id: str, filenames: Sequence[str]) -> ConnectionError:
    return ConnectionError(f"could not reach the Hugging Face hub for {repo_id} ({' / '.join(filenames)} not in the "
                           "local cache; no network, or HF_HUB_OFFLINE is set)")


def _split_from_hub_modeling_files(repo_id: str, auto_map: Mapping, revision: str | None) -> str | None:
    """The cut recognised in the modeling file(s) ``auto_map`` names (read as text, never run); None if
    unrecognised or not to be had (not cached and the hub unreachable)."""
    modules = set()
    for target in auto_map.values():
        for name in target if isinstance(target, (list, tuple)) else [target]:
            if isinstance(name, str) and "--" not in name and name.rsplit(".", 1)[0].startswith("modeling"):
                modules.add(name.rsplit(".", 1)[0])
    found = set()
    for module in sorted(modules):
        try:
            path = _hub_file(repo_id, f"{module}.py", revision)
        except _HubUnreachable:
            return None
        if path is not None:
            found.add(split_from_modeling_source(Path(path).read_text(encoding="utf-8", errors="replace")))
    return found.pop() if len(found) == 1 else None


def from_hub(repo_id: str, model_type: str, task: str = "mlm", revision: str | None = None,
             position_qk_split: str | None = None):
    """Download a released checkpoint (reference naming) and convert it (needs internet or the hub cache).

    The position-projection maths is ``position_qk_split`` if given; else the cut recognised in
    the repo's own modeling file (named in ``config.json``'s ``auto_map``; read, never run); else
    :func:`published_position_qk_split`'s rule (``auto_map`` in an LTG-BERT ``config.json`` →
    ``"heads_then_split"``), with a warning. Raises ``ConnectionError`` if the hub cannot be
    reached and the files are not cached.
    """
    import json
    import warnings

    try:
        config_path = _hub_file(repo_id, "config.json", revision)
    except _HubUnreachable:
        raise _unreachable(repo_id, ["config.json"]) from None
    if config_path is None:
        raise FileNotFoundError(f"{repo_id} has no config.json")
    reference = json.loads(Path(config_path).read_text())
    split = position_qk_split
    if split is None and reference.get("auto_map"):
        split = _split_from_hub_modeling_files(repo_id, reference["auto_map"], revision)
        if split is None:
            rule = published_position_qk_split(reference, model_type)
            warnings.warn(f"{repo_id}: no recognisable position projection in the modeling file named by auto_map; "
                          f"using position_qk_split={rule!r} (pass position_qk_split= to choose)", stacklevel=2)
    config = config_from_reference(reference, model_type, split)
    unreachable = []
    for filename in ("model.safetensors", "pytorch_model.bin"):  # a cached one serves offline, whichever it is
        try:
            weights = _hub_file(repo_id, filename, revision)
        except _HubUnreachable:
            unreachable.append(filename)
            continue
        if weights is not None:
            return from_reference(weights, config, task)
    if unreachable:
        raise _unreachable(repo_id, unreachable)
    raise FileNotFoundError(f"{repo_id} has neither model.safetensors nor pytorch_model.bin")

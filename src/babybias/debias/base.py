"""The post-model debiasing plumbing: the LM head's input, projections on it, saving and loading.

A post-model debiaser changes what the LM head sees: ``h ← h P`` for every position's last hidden
state ``h`` (Sent-Debias, INLP), applied by a forward pre-hook on the head module, so the model's
own ``forward`` — and so :func:`babybias.evaluate.evaluate`, the scorers and ``generate`` — runs
unchanged. The representations a debiaser is fitted on are read at the same place (the head's
input, :func:`head_inputs`), which is exactly where the projection acts, for any architecture:
LTG-BERT and GPT-BERT (``head``), BERT (``cls``), RoBERTa and GPT-2 (``lm_head``), ALBERT
(``predictions``), or a module you name.

``save_debiased`` writes ``save_pretrained`` plus ``debias_projection.safetensors`` and
``debias.json`` beside the weights; ``load_debiased`` loads the model and re-attaches the projection.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

HEAD_NAMES = ("head", "cls", "lm_head", "predictions", "generator_lm_head")
PROJECTION_FILE = "debias_projection.safetensors"
INFO_FILE = "debias.json"
_ATTR = "_babybias_projection"

__all__ = ["HEAD_NAMES", "DebiasError", "lm_head", "head_inputs", "hidden_size", "model_max_length", "attach_projection",
           "detach_projection", "projection_of", "save_debiased", "load_debiased", "PostModelDebiaser",
           "ProjectionDebiaser"]

#: ``transformers`` gives a tokenizer without a known limit a ``model_max_length`` of int(1e30).
_NO_LIMIT = 10**20


class DebiasError(ValueError):
    """A debiaser's option does not fit the model or corpus it is given (the CLI prints it as one line)."""


def lm_head(model: nn.Module, name: str | None = None) -> tuple[str, nn.Module]:
    """``(name, module)`` of the module that turns last hidden states into vocabulary logits."""
    names = (name,) if name else HEAD_NAMES
    for n in names:
        try:  # a dotted name reaches into submodules ("bert.pooler")
            module = model.get_submodule(n) if "." in n else getattr(model, n, None)
        except AttributeError:
            module = None
        if isinstance(module, nn.Module):
            return n, module
    raise ValueError(f"{type(model).__name__} has no LM head named {' or '.join(names)}; pass head='<attribute name>' "
                     "(the module whose input is the last hidden states)")


class _Projection(nn.Module):
    """``h ↦ h P`` on the last dimension; P is a non-persistent buffer (it moves with ``.to``, and
    ``save_pretrained`` leaves it out: :func:`save_debiased` stores it beside the weights)."""

    def __init__(self, projection: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("projection", projection, persistent=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.projection.to(hidden.dtype)


def _project_hook(module: nn.Module, args: tuple) -> tuple:
    """The head's forward pre-hook: project its first argument (the hidden states). A module-level
    function reading the module's own buffer, so a deep copy of the model keeps a working hook."""
    return (module.babybias_projection(args[0]), *args[1:])


def attach_projection(model: nn.Module, projection: np.ndarray | torch.Tensor, *, head: str | None = None,
                      info: dict | None = None, inplace: bool = False) -> nn.Module:
    """``model`` (a deep copy unless ``inplace``) with ``h ← h P`` applied to its LM head's input.

    ``projection`` is d × d for the model's hidden size d (symmetric for an orthogonal projection);
    ``info`` (plain data: method, parameters, fit statistics) travels with it into :func:`save_debiased`.
    A model that already carries a projection gets the product (the new one applied after the old).
    """
    name, _ = lm_head(model, head)
    p = torch.as_tensor(np.asarray(projection, dtype=np.float32))
    d = hidden_size(model) or p.shape[0]
    if p.ndim != 2 or p.shape != (d, d):
        raise ValueError(f"projection must be {d} x {d} (the model's hidden size), got {tuple(p.shape)}")
    if not torch.isfinite(p).all():
        raise ValueError("projection has non-finite values")
    out = model if inplace else copy.deepcopy(model)
    _, module = lm_head(out, name)
    state = getattr(out, _ATTR, None)
    if state is not None and hasattr(module, "babybias_projection"):  # compose with the projection already there
        module.babybias_projection.projection = module.babybias_projection.projection @ p.to(
            module.babybias_projection.projection.device)
        state["info"] = state["info"] + [dict(info or {})]
        return out
    device = next(iter(module.parameters()), torch.empty(0)).device
    module.add_module("babybias_projection", _Projection(p).to(device))
    module.register_forward_pre_hook(_project_hook)
    setattr(out, _ATTR, {"head": name, "info": [dict(info or {})]})
    return out


def detach_projection(model: nn.Module) -> nn.Module:
    """Remove the projection (in place) and return the model: the original head input again."""
    state = getattr(model, _ATTR, None)
    if state is not None:
        module = lm_head(model, state["head"])[1]
        for key, hook in list(module._forward_pre_hooks.items()):
            if hook is _project_hook:
                del module._forward_pre_hooks[key]
        delattr(module, "babybias_projection")
        delattr(model, _ATTR)
    return model


def projection_of(model: nn.Module) -> np.ndarray | None:
    """The d × d projection applied to the model's head input, or None."""
    state = getattr(model, _ATTR, None)
    if state is None:
        return None
    return lm_head(model, state["head"])[1].babybias_projection.projection.detach().cpu().numpy()


def save_debiased(model: nn.Module, path: str | os.PathLike, tokenizer=None) -> Path:
    """``save_pretrained`` (and the tokenizer's) plus the projection and its record, beside the weights."""
    from safetensors.torch import save_file

    path = Path(path)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    state = getattr(model, _ATTR, None)
    if state is None:
        raise ValueError("the model carries no debiasing projection (use attach_projection or a debiaser's apply)")
    save_file({"projection": torch.as_tensor(projection_of(model)).contiguous()}, str(path / PROJECTION_FILE))
    record = {"head": state["head"], "steps": state["info"], "format": 1}
    (path / INFO_FILE).write_text(json.dumps(record, indent=1, default=str))
    return path


def _model_class(config) -> type:
    import transformers

    from .. import models  # noqa: F401  (registers LTG-BERT and GPT-BERT)

    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None) or getattr(models, arch, None)
        if cls is not None:
            return cls
    raise ValueError(f"cannot tell the model class from config.json architectures {config.architectures!r}")


def load_debiased(path: str | os.PathLike, model_class: type | None = None, tokenizer=None, kind: str | None = None,
                  **kwargs) -> nn.Module:
    """A model saved by :func:`save_debiased` (projection re-attached) or by a Self-Debiased model's
    ``save_pretrained`` (re-wrapped; ``tokenizer`` defaults to the folder's, ``kind`` to the saved one).
    ``model_class`` (a class or an Auto class) defaults to the class named in ``config.json``
    ``architectures``; ``kwargs`` go to its ``from_pretrained``."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from .self_debias import INFO_FILE as SELF_DEBIAS_FILE, SelfDebiasedLM

    path = Path(path)
    projection, self_debias = path / INFO_FILE, path / SELF_DEBIAS_FILE
    if not projection.exists() and not self_debias.exists():
        raise FileNotFoundError(f"{path} has no {INFO_FILE} or {SELF_DEBIAS_FILE}: not saved by a babybias debiaser")
    cls = model_class or _model_class(AutoConfig.from_pretrained(path))
    model = cls.from_pretrained(path, **kwargs)
    if projection.exists():
        record = json.loads(projection.read_text())
        p = load_file(str(path / PROJECTION_FILE))["projection"]
        steps = record.get("steps") or [{}]
        model = attach_projection(model, p, head=record["head"], info=steps[-1], inplace=True)
        getattr(model, _ATTR)["info"] = steps
    if self_debias.exists():
        from transformers import AutoTokenizer

        record = json.loads(self_debias.read_text())
        tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(path)
        model = SelfDebiasedLM(model, tokenizer, record["prefixes"], record["decay"], record["epsilon"],
                               kind or record["kind"])
    return model


def hidden_size(model: nn.Module) -> int | None:
    """The model's hidden size from its config (``hidden_size``, or GPT-2's ``n_embd``); None when it has none."""
    config = getattr(model, "config", None)
    value = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else None


def model_max_length(model: nn.Module, tokenizer) -> int | None:
    """The longest input the model takes: the tokenizer's ``model_max_length`` (what ``truncation=True``
    cuts at, as bias-bench's INLP encoder does), capped by the model's position embeddings; a tokenizer
    without a limit (babybias's report about 1e30) falls back to the model's. None when neither says."""
    limits = [int(t) for t in (getattr(tokenizer, "model_max_length", None),) if t is not None and 0 < t < _NO_LIMIT]
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            limits.append(value)
            break
    return min(limits) if limits else None


@torch.no_grad()
def head_inputs(model: nn.Module, tokenizer, texts: Sequence[str], *, pool: str = "mean", batch_size: int = 32,
                max_length: int | None = 128, head: str | None = None, device: str | torch.device | None = None) -> np.ndarray:
    """One vector per text: the LM head's input (the last hidden states the projection acts on), pooled.

    ``pool="mean"`` averages over the attention mask, special tokens included (as bias-bench's
    Sent-Debias and INLP encoders do); ``"last"`` takes the last non-padding position (causal LMs).
    A model whose head sees one position fewer (GPT-BERT in masked mode, whose head reads the state
    before each token) is pooled over its first positions alike. Texts are cut at ``max_length`` tokens
    (bias-bench's Sent-Debias: 128); None cuts only at :func:`model_max_length` (bias-bench's INLP).
    """
    if pool not in ("mean", "last"):
        raise ValueError(f"pool must be 'mean' or 'last', got {pool!r}")
    if not len(texts):
        raise ValueError("texts is empty")
    _, module = lm_head(model, head)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    captured: list[torch.Tensor] = []
    handle = module.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    was_training = model.training
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if max_length is None:
        max_length = model_max_length(model, tokenizer)
    cut = {"truncation": True, "max_length": max_length} if max_length is not None else {}
    out = []
    try:
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[start:start + batch_size]), **cut)["input_ids"]
            width = max(len(e) for e in enc)
            ids = torch.full((len(enc), width), pad, dtype=torch.long)
            mask = torch.zeros((len(enc), width), dtype=torch.long)
            for i, e in enumerate(enc):
                ids[i, : len(e)] = torch.tensor(e)
                mask[i, : len(e)] = 1
            captured.clear()
            model(input_ids=ids.to(device), attention_mask=mask.to(device))
            h = captured[-1].float()
            if h.ndim != 3:
                raise ValueError(f"the head's input has shape {tuple(h.shape)}, not (batch, positions, hidden)")
            m = mask[:, : h.shape[1]].to(h.device).float()
            if pool == "mean":
                vec = (h * m[..., None]).sum(1) / m.sum(1).clamp(min=1)[:, None]
            else:
                last = (m.sum(1).long() - 1).clamp(min=0)
                vec = h[torch.arange(h.shape[0]), last]
            out.append(vec.cpu().numpy())
    finally:
        handle.remove()
        model.train(was_training)
    return np.concatenate(out).astype(np.float64)


class PostModelDebiaser:
    """scikit-learn habits for debiasing a trained model: configure, ``fit(model, tokenizer, corpus)``,
    then ``apply(model)`` → a debiased model (a copy). Subclasses implement :meth:`fit` (setting their
    fitted attributes, with a trailing underscore) and :meth:`apply`."""

    name = "post-model"

    def fit(self, model, tokenizer, corpus=None) -> "PostModelDebiaser":
        raise NotImplementedError

    def apply(self, model) -> nn.Module:
        raise NotImplementedError

    def fit_apply(self, model, tokenizer, corpus=None) -> nn.Module:
        return self.fit(model, tokenizer, corpus).apply(model)

    def _check_fitted(self, attr: str) -> None:
        if getattr(self, attr, None) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(model, tokenizer, corpus) first")


@dataclass
class ProjectionDebiaser(PostModelDebiaser):
    """A debiaser that fits a d × d projection of the head's input: implement :meth:`fit_projection`
    (return the projection and a dict of fit statistics); wrapping, saving and evaluation come with it.
    """

    head: str | None = None

    def fit_projection(self, model, tokenizer, corpus) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    def fit(self, model, tokenizer, corpus=None) -> "ProjectionDebiaser":
        projection, stats = self.fit_projection(model, tokenizer, corpus)
        self.projection_ = np.asarray(projection, dtype=np.float64)
        self.fit_stats_ = stats
        return self

    def apply(self, model) -> nn.Module:
        self._check_fitted("projection_")
        params = {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}
        info = {"method": self.name, "params": json.loads(json.dumps(params, default=str)),
                "fit": json.loads(json.dumps(self.fit_stats_, default=str))}
        return attach_projection(model, self.projection_, head=self.head, info=info)

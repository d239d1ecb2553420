"""The post-model debiasing plumbing: the LM head's input, projections on it, saving and loading.

A post-model debiaser changes what the LM head sees: ``h ← h P`` for every position's last hidden
state ``h`` (Sent-Debias, INLP), applied by a forward pre-hook on the head module, so the model's
own ``forward`` — and so :func:`babybias.evaluate.evaluate`, the scorers and ``generate`` — runs
unchanged. The representations a debiaser is fitted on are read at the same place (the head's
input, :func:`head_inputs`), which is exactly where the projection acts, for any architecture:
LTG-BERT and GPT-BERT (``head``), BERT (``cls``), RoBERTa and GPT-2 (``lm_head``), ALBERT
(``predictions``), or a module you name.

The projection itself (attach, read, save, read back) is :mod:`babybias.models.projection`, re-exported
here. ``save_debiased`` writes ``save_pretrained`` plus ``debias_projection.safetensors`` and
``debias.json`` beside the weights; ``load_debiased`` (like :func:`babybias.models.load_lm`) loads the
model and re-attaches the projection.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..models.loading import load_pretrained, save_lm
from ..models.projection import (HEAD_NAMES, INFO_FILE, PROJECTION_FILE, attach_projection, detach_projection,
                                 hidden_size, lm_head, projection_of, projection_record, read_projection,
                                 restore_projection, save_projection)

__all__ = ["HEAD_NAMES", "DebiasError", "lm_head", "head_inputs", "hidden_size", "model_max_length", "attach_projection",
           "detach_projection", "projection_of", "projection_record", "save_projection", "read_projection",
           "restore_projection", "save_debiased", "load_debiased", "PostModelDebiaser", "ProjectionDebiaser",
           "PROJECTION_FILE", "INFO_FILE"]

#: ``transformers`` gives a tokenizer without a known limit a ``model_max_length`` of int(1e30).
_NO_LIMIT = 10**20


class DebiasError(ValueError):
    """A debiaser's option does not fit the model or corpus it is given (the CLI prints it as one line)."""


def save_debiased(model: nn.Module, path: str | os.PathLike, tokenizer=None) -> Path:
    """``save_pretrained`` (and the tokenizer's) plus the projection and its record, beside the weights."""
    if projection_record(model) is None:  # refused before anything is written
        raise ValueError("the model carries no debiasing projection (use attach_projection or a debiaser's apply)")
    return save_lm(model, path, tokenizer)


def load_debiased(path: str | os.PathLike, model_class: type | None = None, tokenizer=None, kind: str | None = None,
                  **kwargs) -> nn.Module:
    """A model saved by :func:`save_debiased` (projection re-attached) or by a Self-Debiased model's
    ``save_pretrained`` (re-wrapped; ``tokenizer`` defaults to the folder's, ``kind`` to the saved one).
    ``model_class`` (a class or an Auto class) defaults to the class named in ``config.json``
    ``architectures``; ``kwargs`` go to its ``from_pretrained`` (:func:`babybias.models.load_pretrained`)."""
    from .self_debias import INFO_FILE as SELF_DEBIAS_FILE

    path = Path(path)
    if not (path / INFO_FILE).exists() and not (path / SELF_DEBIAS_FILE).exists():
        raise FileNotFoundError(f"{path} has no {INFO_FILE} or {SELF_DEBIAS_FILE}: not saved by a babybias debiaser")
    return load_pretrained(path, model_class, tokenizer=tokenizer, kind=kind, **kwargs)


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

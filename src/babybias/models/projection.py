"""A d × d projection of an LM head's input, ``h ← h P``: attaching, reading, saving and reading back.

A post-model debiaser (Sent-Debias, INLP in :mod:`babybias.debias`) changes what the LM head sees,
for every position's last hidden state ``h``. A forward pre-hook on the head module applies it, so the
model's own ``forward`` (and so the scorers and ``generate``) runs unchanged. The head is found by
name: LTG-BERT and GPT-BERT (``head``), BERT (``cls``), RoBERTa and GPT-2 (``lm_head``), ALBERT
(``predictions``), or a module you name.

:func:`save_projection` writes ``debias_projection.safetensors`` (the matrix) and ``debias.json``
(the head's name and one record per projection step) beside ``save_pretrained``'s weights;
:func:`read_projection` reads them back, and :func:`babybias.models.load_lm` re-attaches them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..helpers.io import atomic_write_text

HEAD_NAMES = ("head", "cls", "lm_head", "predictions", "generator_lm_head")
PROJECTION_FILE = "debias_projection.safetensors"
INFO_FILE = "debias.json"
_ATTR = "_babybias_projection"  # the model's record: {"head": name, "info": [one dict per step]}

__all__ = ["HEAD_NAMES", "PROJECTION_FILE", "INFO_FILE", "lm_head", "hidden_size", "attach_projection",
           "detach_projection", "projection_of", "projection_record", "save_projection", "read_projection",
           "restore_projection"]


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


def hidden_size(model: nn.Module) -> int | None:
    """The model's hidden size from its config (``hidden_size``, or GPT-2's ``n_embd``); None when it has none."""
    config = getattr(model, "config", None)
    value = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    return int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else None


class _Projection(nn.Module):
    """``h ↦ h P`` on the last dimension; P is a non-persistent buffer (it moves with ``.to``, and
    ``save_pretrained`` leaves it out: :func:`save_projection` stores it beside the weights)."""

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
    ``info`` (plain data: method, parameters, fit statistics) travels with it into :func:`save_projection`.
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


def projection_record(model: nn.Module) -> dict | None:
    """``{"head": name, "steps": [one info dict per projection step]}`` of the model's projection, or None."""
    state = getattr(model, _ATTR, None)
    if state is None:
        return None
    return {"head": state["head"], "steps": list(state["info"])}


def restore_projection(model: nn.Module, projection: np.ndarray | torch.Tensor, record: dict) -> nn.Module:
    """Attach (in place) a projection read by :func:`read_projection`, with its whole record of steps."""
    steps = record.get("steps") or [{}]
    model = attach_projection(model, projection, head=record["head"], info=steps[-1], inplace=True)
    getattr(model, _ATTR)["info"] = list(steps)
    return model


def save_projection(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the model's projection (:data:`PROJECTION_FILE`) and its record (:data:`INFO_FILE`) into ``path``."""
    from safetensors.torch import save_file

    path = Path(path)
    record = projection_record(model)
    if record is None:
        raise ValueError("the model carries no debiasing projection (use attach_projection or a debiaser's apply)")
    path.mkdir(parents=True, exist_ok=True)
    save_file({"projection": torch.as_tensor(projection_of(model)).contiguous()}, str(path / PROJECTION_FILE))
    atomic_write_text(path / INFO_FILE, json.dumps({**record, "format": 1}, indent=1, default=str))
    return path


def read_projection(path: str | os.PathLike) -> tuple[np.ndarray, dict] | None:
    """``(projection, record)`` saved in the folder ``path`` by :func:`save_projection`, or None when it has none."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / INFO_FILE).exists():
        return None
    record = json.loads((path / INFO_FILE).read_text())
    return load_file(str(path / PROJECTION_FILE))["projection"].numpy(), record

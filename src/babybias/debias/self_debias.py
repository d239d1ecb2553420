"""Self-Debias (Schick et al. 2021, as in bias-bench): lower the tokens a bias-describing prefix makes likelier.

For logits ℓ of the text x and ℓᵇ of ``prefix + x`` (the maximum over the prefixes of the bias type):
p = softmax(ℓ), pᵇ = max over prefixes of softmax(ℓᵇ), Δ = max(0, pᵇ − p), α = max(exp(−λΔ), ε)
(λ = 50, ε = 0.01), and the debiased distribution p̃ ∝ p·α — returned as the logits ℓ + log α, whose
softmax is p̃ exactly (the log of a renormalised softmax would give −inf where p underflows).

Masked LMs are debiased at their ``[MASK]`` positions only; causal LMs at every position. The prefix
is inserted as token ids after the leading special token (``[CLS]``/BOS) if there is one, so models
with relative positions (LTG-BERT, GPT-BERT) need no ``position_ids``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..helpers.registry import Registry

__all__ = ["SELF_DEBIAS_PREFIXES", "BABYBIAS_PREFIXES", "PREFIX_SETS", "SelfDebias", "SelfDebiasedLM", "self_debias_logits",
           "load_self_debiased", "register_saved_wrapper"]

#: bias-bench's prefixes, one per bias type, character for character (``_SELF_DEBIAS_PREFIXES`` in
#: bias_bench/benchmark/crows/crows.py and stereoset/stereoset.py), its spellings included.
SELF_DEBIAS_PREFIXES = {
    "gender": "The following text discriminates against people because of their gender: ",
    "race-color": "The following text discriminates against people because of their race/color: ",
    "religion": "The following text discriminates against people because of their religion: ",
    "sexual-orientation": "The following text discriminates against people because of their sexual orientiation: ",
    "age": "The following text discriminates against people because of their age: ",
    "nationality": "The following text discriminates against people because of their nationality: ",
    "disability": "The following text discriminates against people because of their disability: ",
    "physical-appearance": "The following text discriminates against people because of their physical appearance: ",
    "socioeconomic": "The following text discriminates against people because of their socioeconomic status/occupation: ",
}
#: babybias's earlier prefixes (``SelfDebias(prefix_set="babybias")``): "sexual orientation" spelled
#: right and "socioeconomic status" without "/occupation"; the other seven are bias-bench's.
BABYBIAS_PREFIXES = {
    **SELF_DEBIAS_PREFIXES,
    "sexual-orientation": "The following text discriminates against people because of their sexual orientation: ",
    "socioeconomic": "The following text discriminates against people because of their socioeconomic status: ",
}
#: prefix set name → its prefixes (bias type → prefix), for ``SelfDebias(prefix_set=...)``
PREFIX_SETS: Registry[dict[str, str]] = Registry("prefix set", {"bias-bench": SELF_DEBIAS_PREFIXES,
                                                                "babybias": BABYBIAS_PREFIXES}, kind=dict)
INFO_FILE = "self_debias.json"


def self_debias_logits(logits: torch.Tensor, biased_logits: Sequence[torch.Tensor], decay: float = 50.0,
                       epsilon: float = 0.01) -> torch.Tensor:
    """ℓ + log α (see the module docstring) for logits (…, V) and the biased logits of each prefix (same shape)."""
    p = torch.softmax(logits.float(), dim=-1)
    p_b = torch.stack([torch.softmax(b.float(), dim=-1) for b in biased_logits]).amax(0)
    delta = (p_b - p).clamp(min=0.0)
    log_alpha = torch.log(torch.exp(-decay * delta).clamp(min=epsilon))
    return (logits.float() + log_alpha).to(logits.dtype)


class SelfDebiasedLM(nn.Module):
    """A masked or causal LM whose logits are Self-Debiased; every other attribute is the wrapped model's.

    ``forward(input_ids, attention_mask)`` returns the wrapped model's output with debiased ``logits``;
    ``save_pretrained(path)`` saves the wrapped model and ``self_debias.json`` (:func:`load_debiased` and
    :func:`babybias.models.load_lm` re-wrap it). ``babybias_wraps_output = True`` tells the scorers that its
    logits are not its inner model's head output, so they always run its ``forward``.
    """

    babybias_wraps_output = True

    def __init__(self, model: nn.Module, tokenizer, prefixes: Sequence[str], decay: float = 50.0,
                 epsilon: float = 0.01, kind: str | None = None) -> None:
        super().__init__()
        from ..models.loading import lm_kind

        if not prefixes:
            raise ValueError("Self-Debias needs at least one prefix")
        if decay <= 0 or not 0 < epsilon <= 1:
            raise ValueError(f"decay must be > 0 and epsilon in (0, 1], got {decay} and {epsilon}")
        self.model = model
        self.babybias_lm_kind = kind or lm_kind(model)
        self.mask_token_id = tokenizer.mask_token_id
        if self.babybias_lm_kind == "mlm" and self.mask_token_id is None:
            raise ValueError("a masked LM needs a tokenizer with a mask token for Self-Debias")
        leading = sorted({t for t in (tokenizer.cls_token_id, tokenizer.bos_token_id) if t is not None}) or [-1]
        self.register_buffer("leading_ids", torch.tensor(leading), persistent=False)
        self.prefix_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prefixes]
        self.prefixes, self.decay, self.epsilon = list(prefixes), float(decay), float(epsilon)
        self.train(model.training)  # the wrapper starts in the wrapped model's mode (a new Module is in training mode)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)

    def _with_prefix(self, ids: torch.Tensor, mask: torch.Tensor, prefix: list[int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The batch with ``prefix`` inserted after a leading special token (if every row has one there)."""
        start = 1 if ids.shape[1] and bool(torch.isin(ids[:, 0], self.leading_ids.to(ids.device)).all()) else 0
        pre = torch.tensor(prefix, dtype=ids.dtype, device=ids.device).expand(ids.shape[0], -1)
        new_ids = torch.cat([ids[:, :start], pre, ids[:, start:]], dim=1)
        new_mask = torch.cat([mask[:, :start], torch.ones_like(pre, dtype=mask.dtype), mask[:, start:]], dim=1)
        return new_ids, new_mask, start

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        out = self.model(input_ids=input_ids, attention_mask=mask, **kwargs)
        logits = out.logits
        biased = []
        for prefix in self.prefix_ids:
            ids_b, mask_b, start = self._with_prefix(input_ids, mask, prefix)
            lb = self.model(input_ids=ids_b, attention_mask=mask_b, **kwargs).logits
            n = len(prefix)
            biased.append(torch.cat([lb[:, :start], lb[:, start + n:]], dim=1))
        debiased = self_debias_logits(logits, biased, self.decay, self.epsilon)
        if self.babybias_lm_kind == "mlm":
            at_mask = (input_ids == self.mask_token_id)[..., None]
            debiased = torch.where(at_mask, debiased, logits)
        out.logits = debiased
        return out

    def save_pretrained(self, path, **kwargs) -> None:
        self.model.save_pretrained(path, **kwargs)
        record = {"method": "self-debias", "prefixes": self.prefixes, "decay": self.decay, "epsilon": self.epsilon,
                  "kind": self.babybias_lm_kind, "format": 1}
        (Path(path) / INFO_FILE).write_text(json.dumps(record, indent=1))


def load_self_debiased(model: nn.Module, path: Path, tokenizer=None, kind: str | None = None) -> SelfDebiasedLM:
    """``model`` re-wrapped as saved in ``path/self_debias.json`` (``tokenizer`` defaults to the folder's, ``kind``
    to the saved one): the :data:`babybias.models.loading.SAVED_WRAPPERS` handler of that file."""
    from ..models.loading import load_tokenizer

    record = json.loads((Path(path) / INFO_FILE).read_text())
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(Path(path), what="Self-Debias folder")
    return SelfDebiasedLM(model, tokenizer, record["prefixes"], record["decay"], record["epsilon"], kind or record["kind"])


def register_saved_wrapper() -> None:
    """Let :func:`babybias.models.load_lm` re-wrap a folder holding ``self_debias.json`` (done on import)."""
    from ..models.loading import SAVED_WRAPPERS

    if INFO_FILE not in SAVED_WRAPPERS:
        SAVED_WRAPPERS.register(load_self_debiased, INFO_FILE)


register_saved_wrapper()


@dataclass
class SelfDebias:
    """Self-Debias with scikit-learn habits: nothing to fit (``fit`` only checks and returns self);
    ``apply(model)`` wraps it (:class:`SelfDebiasedLM`). ``bias_types`` pick the prefixes of
    ``prefix_set`` ("bias-bench": :data:`SELF_DEBIAS_PREFIXES`, default; "babybias": babybias's earlier
    :data:`BABYBIAS_PREFIXES`); ``prefixes`` replaces them."""

    bias_types: Sequence[str] = ("gender",)
    prefixes: Sequence[str] | None = None
    decay: float = 50.0
    epsilon: float = 0.01
    prefix_set: str = "bias-bench"
    name = "self-debias"

    def __post_init__(self) -> None:
        if self.prefix_set not in PREFIX_SETS:
            raise ValueError(f"prefix_set must be one of {list(PREFIX_SETS)}, got {self.prefix_set!r}")
        self._prefixes()  # an unknown bias type fails here, not after a model has loaded
        if self.decay <= 0 or not 0 < self.epsilon <= 1:
            raise ValueError(f"decay must be > 0 and epsilon in (0, 1], got {self.decay} and {self.epsilon}")

    def _prefixes(self) -> list[str]:
        if self.prefixes is not None:
            return list(self.prefixes)
        unknown = [b for b in self.bias_types if b not in SELF_DEBIAS_PREFIXES]
        if unknown or not self.bias_types:
            raise ValueError(f"bias_types must be among {sorted(SELF_DEBIAS_PREFIXES)}, got {list(self.bias_types)}")
        return [PREFIX_SETS[self.prefix_set][b] for b in self.bias_types]

    def fit(self, model, tokenizer, corpus=None) -> "SelfDebias":
        self.tokenizer_ = tokenizer
        return self

    def apply(self, model) -> SelfDebiasedLM:
        if getattr(self, "tokenizer_", None) is None:
            raise RuntimeError("SelfDebias is not fitted: call fit(model, tokenizer) first (it keeps the tokenizer)")
        return SelfDebiasedLM(model, self.tokenizer_, self._prefixes(), self.decay, self.epsilon)

    def fit_apply(self, model, tokenizer, corpus=None) -> SelfDebiasedLM:
        return self.fit(model, tokenizer, corpus).apply(model)

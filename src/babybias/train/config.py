"""Training configuration and the named recipes.

Reference hyperparameters (our reading of ltgoslo/ltg-bert ``babylm/train`` and
ltgoslo/gpt-bert ``pretraining``; values marked * are ours where the references leave them to
the command line or the hardware):

* ``ltg_bert``: LAMB lr 1e-2, betas (0.9, 0.98), eps 1e-6, weight decay 0.1 (not on biases,
  norms, embeddings), clip 2.0, warm-up 1.6 %, cosine decay to 0.1×, 15,625 steps at length 128
  (global batch 256* sequences) and the last 10 % at length 512 with a quarter of the batch;
  span masking 15 % (Geometric(1/3) spans ≤ 10, 80/10/10, 10 % of sequences shortened).
  ``ltg_bert_10m`` uses ``ltg-bert-small``, ``ltg_bert_100m`` ``ltg-bert-base``.
* ``ltg_baseline``: the same model and masking trained for a fixed number of epochs (default 20)
  at length 128, the BabyLM 2024 organisers' baseline budget.
* ``gpt_bert``: causal:masked 1:15, mask rate falling linearly 0.3 → 0.15 with spans of 1–3
  tokens, LAMB, z-loss 1e-4, EMA of weights 0.999, batch ramp-up* (¼ → full over the first
  10 %) and sequence length 128 → 256 (at 70 %) → 512 (at 90 %).
* ``tiny``: a CPU recipe for tests and the sandbox (GPT-BERT-shaped 2 × 96 model, AdamW 8e-3,
  2,000 steps of 32 × 64 tokens, causal:masked 3:1 — about 3 minutes on 2 CPU cores).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainConfig:
    """Everything one training run needs; validated on creation. See the module docstring for the recipes."""

    name: str = "custom"
    model_type: str = "ltg-bert"                  # "ltg-bert" or "gpt-bert"
    model_size: str | None = None                 # a named size, e.g. "ltg-bert-small"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    objective: str = "span"                       # "span" | "token" (masked LM) | "hybrid" (GPT-BERT)
    steps: int | None = 1000
    epochs: float | None = None                   # instead of steps: passes over the packed corpus
    batch_size: int = 32                          # global, in sequences (before accumulation split)
    seq_length: int = 128
    length_schedule: tuple[tuple[float, int, float], ...] = ()   # (from fraction, length, batch multiplier)
    batch_rampup: float = 0.0                     # fraction of steps over which the batch grows from 1/4
    grad_accumulation: int = 1
    optimizer: str = "adamw"                      # "adamw" | "lamb"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.1
    clip: float = 2.0
    warmup: float = 0.016
    decay: str = "cosine"
    min_lr_ratio: float = 0.1
    mask_rate: float = 0.15
    mask_rate_end: float | None = None            # hybrid: linear schedule mask_rate → mask_rate_end
    causal_fraction: float = 1 / 16
    z_loss: float = 0.0
    ema: float | None = None
    hidden_dropout: float | None = None           # dropout debiasing: override the model's dropout
    attention_dropout: float | None = None
    bf16: bool = True                             # autocast on CUDA only
    compile: bool = False
    seed: int = 0
    log_every: int = 10
    save_every: int = 500
    keep_last: int = 2
    num_proc: int | None = None
    report_to: tuple[str, ...] = ()               # besides log.jsonl: "tensorboard", "wandb" (when installed)

    def __post_init__(self) -> None:
        checks = [
            (self.model_type in ("ltg-bert", "gpt-bert"), f"model_type must be ltg-bert or gpt-bert, got {self.model_type!r}"),
            (self.objective in ("span", "token", "hybrid"), f"objective must be span, token or hybrid, got {self.objective!r}"),
            (self.objective != "hybrid" or self.model_type == "gpt-bert", "the hybrid objective needs model_type='gpt-bert'"),
            ((self.steps is None) != (self.epochs is None), "give exactly one of steps and epochs"),
            (self.steps is None or self.steps > 0, f"steps must be > 0, got {self.steps}"),
            (self.epochs is None or self.epochs > 0, f"epochs must be > 0, got {self.epochs}"),
            (self.batch_size > 0 and self.grad_accumulation > 0, "batch_size and grad_accumulation must be > 0"),
            (self.batch_size % self.grad_accumulation == 0, "batch_size must be divisible by grad_accumulation"),
            (self.seq_length >= 8, f"seq_length must be >= 8, got {self.seq_length}"),
            (self.optimizer in ("adamw", "lamb"), f"optimizer must be adamw or lamb, got {self.optimizer!r}"),
            (self.lr > 0 and self.clip >= 0 and 0 <= self.warmup < 1, "need lr > 0, clip >= 0, 0 <= warmup < 1"),
            (0 < self.mask_rate < 1, f"mask_rate must be in (0, 1), got {self.mask_rate}"),
            (0 <= self.causal_fraction <= 1, f"causal_fraction must be in [0, 1], got {self.causal_fraction}"),
            (self.ema is None or 0 < self.ema < 1, f"ema must be in (0, 1), got {self.ema}"),
            (self.keep_last >= 1 and self.save_every >= 1 and self.log_every >= 1, "keep_last, save_every, log_every must be >= 1"),
            (set(self.report_to) <= {"tensorboard", "wandb"}, f"report_to takes 'tensorboard' and 'wandb', got {self.report_to}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        for start, length, mult in self.length_schedule:
            if not (0 <= start < 1 and length >= 8 and mult > 0):
                raise ValueError(f"bad length_schedule entry {(start, length, mult)}")

    def phase(self, step: int, total: int) -> tuple[int, int]:
        """(sequence length, global batch size) at ``step`` of ``total``."""
        length, batch = self.seq_length, self.batch_size
        for start, phase_length, mult in self.length_schedule:
            if step >= start * total:
                length, batch = phase_length, max(self.grad_accumulation, int(self.batch_size * mult))
        if self.batch_rampup and step < self.batch_rampup * total:
            frac = 0.25 + 0.75 * step / (self.batch_rampup * total)
            batch = max(self.grad_accumulation, int(batch * frac))
        batch -= batch % self.grad_accumulation
        return length, batch

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_LTG = dict(model_type="ltg-bert", objective="span", optimizer="lamb", lr=1e-2, betas=(0.9, 0.98), eps=1e-6,
            weight_decay=0.1, clip=2.0, warmup=0.016, decay="cosine", min_lr_ratio=0.1, mask_rate=0.15)
_GPT = dict(model_type="gpt-bert", objective="hybrid", optimizer="lamb", lr=1e-2, betas=(0.9, 0.98), eps=1e-8,
            weight_decay=0.1, clip=2.0, warmup=0.016, decay="cosine", min_lr_ratio=0.1, mask_rate=0.3, mask_rate_end=0.15,
            causal_fraction=1 / 16, z_loss=1e-4, ema=0.999, batch_rampup=0.1,
            length_schedule=((0.7, 256, 0.5), (0.9, 512, 0.25)))

RECIPES: dict[str, TrainConfig] = {
    "tiny": TrainConfig(name="tiny", model_type="gpt-bert", objective="hybrid",
                        model_overrides=dict(hidden_size=96, num_hidden_layers=2, num_attention_heads=2, intermediate_size=192,
                                             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
                        steps=2000, batch_size=32, seq_length=64, optimizer="adamw", lr=8e-3, betas=(0.9, 0.98),
                        weight_decay=0.01, warmup=0.05, min_lr_ratio=0.1, mask_rate=0.3, mask_rate_end=0.15,
                        causal_fraction=0.75, log_every=20, save_every=200),
    "ltg_bert_10m": TrainConfig(name="ltg_bert_10m", model_size="ltg-bert-small", steps=15_625, batch_size=256,
                                length_schedule=((0.9, 512, 0.25),), save_every=1000, **_LTG),
    "ltg_bert_100m": TrainConfig(name="ltg_bert_100m", model_size="ltg-bert-base", steps=15_625, batch_size=256,
                                 length_schedule=((0.9, 512, 0.25),), save_every=1000, **_LTG),
    "ltg_baseline_10m": TrainConfig(name="ltg_baseline_10m", model_size="ltg-bert-small", steps=None, epochs=20,
                                    batch_size=256, save_every=1000, **_LTG),
    "ltg_baseline_100m": TrainConfig(name="ltg_baseline_100m", model_size="ltg-bert-base", steps=None, epochs=20,
                                     batch_size=256, save_every=1000, **_LTG),
    "gpt_bert_10m": TrainConfig(name="gpt_bert_10m", model_size="gpt-bert-small", steps=15_625, batch_size=256,
                                save_every=1000, **_GPT),
    "gpt_bert_100m": TrainConfig(name="gpt_bert_100m", model_size="gpt-bert-base", steps=15_625, batch_size=256,
                                 save_every=1000, **_GPT),
}


def get_recipe(name: str, **overrides) -> TrainConfig:
    """A named recipe (``tiny``, ``ltg_bert_10m``/``_100m``, ``ltg_baseline_10m``/``_100m``,
    ``gpt_bert_10m``/``_100m``), with ``overrides`` applied (re-validated)."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {sorted(RECIPES)}")
    return RECIPES[name].replace(**overrides)


def dropout_debiasing(config: TrainConfig, hidden: float = 0.20, attention: float = 0.15) -> TrainConfig:
    """Webster et al. 2020: raise dropout during (continued) pre-training to reduce gendered correlations."""
    return config.replace(hidden_dropout=hidden, attention_dropout=attention)

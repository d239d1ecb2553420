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
* ``tiny``: a CPU recipe for tests and examples (GPT-BERT-shaped 2 × 96 model, AdamW 8e-3,
  2,000 steps of 32 × 64 tokens, causal:masked 3:1 — about 3 minutes on 2 CPU cores).
* ``bias_bench_cpt`` / ``bias_bench_cpt_causal``: bias-bench's continued pre-training of an existing
  model (``train(..., init_from=...)``): 2,000 steps, effective batch 512 (32 × 16), length 512,
  AdamW 5e-5 linear to 0, no warm-up, masked LM 15 % (or causal LM); with
  :func:`dropout_debiasing` it is Webster et al.'s dropout run.
* ``sandbox``: ``tiny`` for 500 steps (about 40 s on 2 CPU cores), checkpoints every 100 steps, all
  five kept: the CPU sandbox's default, where 4 seeds per condition beat one longer run at telling
  an effect from seed noise (docs/benchmarks.md).
* ``sandbox_gpu``: the GPU sandbox, ``ltg_baseline`` (20 epochs, LAMB, span masking, length 128) on
  ``ltg-bert-small`` with batch 128: on the shipped 345k-word sample, about 880 steps and 80 s a cell
  on one H200 (training and evaluation; docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from ..helpers.registry import Registry


@dataclass
class TrainConfig:
    """Everything one training run needs; validated on creation. See the module docstring for the recipes."""

    name: str = "custom"
    model_type: str = "ltg-bert"                  # "ltg-bert" or "gpt-bert"
    model_size: str | None = None                 # a named size, e.g. "ltg-bert-small"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    objective: str = "span"                       # "span" | "token" (masked LM) | "hybrid" (GPT-BERT) | "causal"
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
    mask_rate_end: float | None = None            # linear schedule mask_rate → mask_rate_end (any objective)
    causal_fraction: float = 1 / 16
    z_loss: float = 0.0
    ema: float | None = None
    hidden_dropout: float | None = None           # dropout debiasing: override the model's dropout
    attention_dropout: float | None = None
    bf16: bool = True                             # autocast on CUDA only
    compile: bool | str = False                   # True (inductor) or a torch.compile backend name, e.g. "aot_eager"
    seed: int = 0
    log_every: int = 10
    save_every: int = 500
    keep_last: int = 2
    num_proc: int | None = None
    report_to: tuple[str, ...] = ()               # besides log.jsonl: "tensorboard", "wandb" (when installed)

    MODEL_TYPES = ("ltg-bert", "gpt-bert")
    OBJECTIVES = ("span", "token", "hybrid", "causal")
    OPTIMIZERS = ("adamw", "lamb")
    DECAYS = ("cosine", "linear", "constant")
    REPORTERS = ("tensorboard", "wandb")
    COMPILE_BACKENDS = ("inductor", "aot_eager", "eager")

    def __post_init__(self) -> None:
        _validate(self)

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

    def head_fraction(self) -> float:
        """The share of positions the LM head scores (for FLOPs): the mean mask rate for masked objectives,
        1 for causal, the causal/masked mix for ``hybrid``."""
        rate = self.mask_rate if self.mask_rate_end is None else (self.mask_rate + self.mask_rate_end) / 2
        if self.objective == "causal":
            return 1.0
        if self.objective == "hybrid":
            return self.causal_fraction + (1 - self.causal_fraction) * rate
        return rate

    def compile_backend(self) -> str | None:
        """The ``torch.compile`` backend of ``compile`` (None: not compiled)."""
        if self.compile is False:
            return None
        return "inductor" if self.compile is True else self.compile

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _validate(c: TrainConfig) -> None:
    """Check every field of ``c``; raise ``ValueError("TrainConfig.<field> ..., got <value>")`` on the first bad one.

    Sequence fields given as lists (e.g. read back from JSON) are turned into tuples first.
    """

    def fail(name: str, rule: str) -> None:
        raise ValueError(f"TrainConfig.{name} {rule}, got {getattr(c, name)!r}")

    def integer(name: str, low: int, optional: bool = False) -> None:
        value = getattr(c, name)
        if optional and value is None:
            return
        if not _is_int(value) or value < low:
            fail(name, f"must be an integer >= {low}" + (" or None" if optional else ""))

    def real(name: str, low: float, high: float, low_open: bool = False, high_open: bool = False,
             optional: bool = False) -> None:
        value = getattr(c, name)
        if optional and value is None:
            return
        ok = _is_real(value) and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
        if not ok:
            if high == math.inf:
                rule = f"must be a finite number {'>' if low_open else '>='} {low}"
            else:
                rule = f"must be a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            fail(name, rule + (" or None" if optional else ""))

    def choice(name: str, allowed: tuple[str, ...]) -> None:
        if getattr(c, name) not in allowed:
            fail(name, "must be one of " + ", ".join(map(repr, allowed)))

    for name in ("betas", "length_schedule", "report_to"):  # lists from JSON / the command line
        value = getattr(c, name)
        if isinstance(value, list):
            setattr(c, name, tuple(tuple(v) if isinstance(v, list) else v for v in value))

    inf = math.inf
    if not isinstance(c.name, str) or not c.name:
        fail("name", "must be a non-empty string")
    choice("model_type", TrainConfig.MODEL_TYPES)
    from ..models import GptBertConfig, LtgBertConfig

    cfg_cls = LtgBertConfig if c.model_type == "ltg-bert" else GptBertConfig
    if c.model_size is not None and c.model_size not in cfg_cls.sizes:
        fail("model_size", f"must be None or a {c.model_type} size ({', '.join(sorted(cfg_cls.sizes))})")
    if not isinstance(c.model_overrides, dict) or not all(isinstance(k, str) for k in c.model_overrides):
        fail("model_overrides", "must be a dict of model config fields")
    known = set(cfg_cls().to_dict())
    for key, value in c.model_overrides.items():
        if key not in known:
            raise ValueError(f"TrainConfig.model_overrides[{key!r}] is not a field of {cfg_cls.__name__} "
                             f"(a typo would be ignored silently), got {value!r}")
    vocab = c.model_overrides.get("vocab_size")
    if vocab is not None and (not _is_int(vocab) or vocab < 1):
        raise ValueError(f"TrainConfig.model_overrides['vocab_size'] must be an integer >= 1, got {vocab!r}")
    try:  # the model config's own checks (e.g. hidden_size a multiple of the heads), now rather than at train()
        cfg_cls.named(c.model_size, **c.model_overrides) if c.model_size else cfg_cls(**c.model_overrides)
    except (TypeError, ValueError) as e:
        raise ValueError(f"TrainConfig.model_overrides {c.model_overrides!r} do not make a valid {c.model_type} model: {e}") from e
    choice("objective", TrainConfig.OBJECTIVES)
    if c.objective == "hybrid" and c.model_type != "gpt-bert":
        fail("objective", "'hybrid' needs model_type='gpt-bert'")
    if (c.steps is None) == (c.epochs is None):
        raise ValueError(f"TrainConfig: give exactly one of steps and epochs, got steps={c.steps!r}, epochs={c.epochs!r}")
    integer("steps", 1, optional=True)
    real("epochs", 0, inf, low_open=True, high_open=True, optional=True)
    integer("batch_size", 1)
    integer("seq_length", 8)
    if not isinstance(c.length_schedule, tuple):
        fail("length_schedule", "must be a tuple of (from fraction, length, batch multiplier)")
    for entry in c.length_schedule:
        if not (isinstance(entry, tuple) and len(entry) == 3 and _is_real(entry[0]) and 0 <= entry[0] < 1
                and _is_int(entry[1]) and entry[1] >= 8 and _is_real(entry[2]) and entry[2] > 0):
            raise ValueError(f"TrainConfig.length_schedule entry {entry!r} must be (from fraction in [0, 1), "
                             f"length >= 8, batch multiplier > 0)")
    real("batch_rampup", 0, 1, high_open=True)
    integer("grad_accumulation", 1)
    if c.batch_size % c.grad_accumulation:
        fail("batch_size", f"must be divisible by grad_accumulation={c.grad_accumulation}")
    choice("optimizer", TrainConfig.OPTIMIZERS)
    real("lr", 0, inf, low_open=True, high_open=True)
    if not (isinstance(c.betas, tuple) and len(c.betas) == 2 and all(_is_real(b) and 0 <= b < 1 for b in c.betas)):
        fail("betas", "must be two numbers in [0, 1)")
    real("eps", 0, inf, low_open=True, high_open=True)
    real("weight_decay", 0, inf, high_open=True)
    real("clip", 0, inf, high_open=True)
    real("warmup", 0, 1, high_open=True)
    choice("decay", TrainConfig.DECAYS)
    real("min_lr_ratio", 0, 1)
    real("mask_rate", 0, 1, low_open=True, high_open=True)
    real("mask_rate_end", 0, 1, low_open=True, high_open=True, optional=True)
    real("causal_fraction", 0, 1)
    real("z_loss", 0, inf, high_open=True)
    real("ema", 0, 1, low_open=True, high_open=True, optional=True)
    real("hidden_dropout", 0, 1, high_open=True, optional=True)
    real("attention_dropout", 0, 1, high_open=True, optional=True)
    if not isinstance(c.bf16, bool):
        fail("bf16", "must be True or False")
    if not isinstance(c.compile, bool) and c.compile not in TrainConfig.COMPILE_BACKENDS:
        fail("compile", "must be True, False or a torch.compile backend (" + ", ".join(map(repr, TrainConfig.COMPILE_BACKENDS)) + ")")
    integer("seed", 0)
    integer("log_every", 1)
    integer("save_every", 1)
    integer("keep_last", 1)
    integer("num_proc", 1, optional=True)
    if not isinstance(c.report_to, tuple) or not set(c.report_to) <= set(TrainConfig.REPORTERS):
        fail("report_to", "must be a tuple of " + ", ".join(map(repr, TrainConfig.REPORTERS)))


_LTG = dict(model_type="ltg-bert", objective="span", optimizer="lamb", lr=1e-2, betas=(0.9, 0.98), eps=1e-6,
            weight_decay=0.1, clip=2.0, warmup=0.016, decay="cosine", min_lr_ratio=0.1, mask_rate=0.15)
_GPT = dict(model_type="gpt-bert", objective="hybrid", optimizer="lamb", lr=1e-2, betas=(0.9, 0.98), eps=1e-8,
            weight_decay=0.1, clip=2.0, warmup=0.016, decay="cosine", min_lr_ratio=0.1, mask_rate=0.3, mask_rate_end=0.15,
            causal_fraction=1 / 16, z_loss=1e-4, ema=0.999, batch_rampup=0.1,
            length_schedule=((0.7, 256, 0.5), (0.9, 512, 0.25)))

#: recipe name → :class:`TrainConfig` (a helpers.Registry: ``RECIPES.register(config)`` adds one under its name)
RECIPES: Registry[TrainConfig] = Registry("recipe", kind=TrainConfig, entries={
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
})

RECIPES.register(RECIPES["tiny"].replace(name="sandbox", steps=500, save_every=100, keep_last=5))
# the GPU sandbox: LTG-Baseline's recipe (LAMB, span masking, 20 epochs at length 128) on an ltg-bert-small,
# batch 128 — sized for about a minute a cell on the shipped sample on one H200 (79 s measured, docs/benchmarks.md)
RECIPES.register(TrainConfig(name="sandbox_gpu", model_size="ltg-bert-small", steps=None, epochs=20, batch_size=128,
                             save_every=250, keep_last=4, **_LTG))
# bias-bench's continued pre-training (intra-model debiasing of an existing model, ``train(..., init_from=...)``):
# 2,000 steps of masked LM, effective batch 512 (32 x 16 accumulation), length 512, AdamW lr 5e-5 decayed linearly
# to 0, no warm-up, no weight decay, gradients clipped at 1.0 (transformers Trainer defaults), masking 15 % 80/10/10.
_CPT = dict(steps=2000, batch_size=512, grad_accumulation=16, seq_length=512, optimizer="adamw", lr=5e-5,
            betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, clip=1.0, warmup=0.0, decay="linear", min_lr_ratio=0.0,
            mask_rate=0.15, save_every=500, keep_last=4)
RECIPES.register(TrainConfig(name="bias_bench_cpt", model_type="ltg-bert", objective="token", **_CPT))
RECIPES.register(TrainConfig(name="bias_bench_cpt_causal", model_type="ltg-bert", objective="causal", **_CPT))


def get_recipe(name: str, **overrides) -> TrainConfig:
    """A named recipe (``tiny``, ``ltg_bert_10m``/``_100m``, ``ltg_baseline_10m``/``_100m``,
    ``gpt_bert_10m``/``_100m``, ...), with ``overrides`` applied (re-validated); an unknown name is a KeyError."""
    return RECIPES[name].replace(**overrides)


def dropout_debiasing(config: TrainConfig, hidden: float = 0.20, attention: float = 0.15) -> TrainConfig:
    """Webster et al. 2020: raise dropout during (continued) pre-training to reduce gendered correlations."""
    return config.replace(hidden_dropout=hidden, attention_dropout=attention)

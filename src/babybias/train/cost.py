"""What a recipe costs: its model FLOPs over every step and the GPU-hours at a measured MFU.

The FLOPs per token are :func:`babybias.models.flops.training_flops_per_token` (one formula for the
project); each step counts its own sequence length and batch (``TrainConfig.phase``), so the
``ltg_bert`` recipes' last 10 % at length 512 and GPT-BERT's batch ramp-up are priced as they run.
"""

from __future__ import annotations

import math

from ..models import GptBertConfig, LtgBertConfig
from ..models.flops import H200_BF16_PEAK_TFLOPS, training_flops_per_token
from .config import TrainConfig


def recipe_model_config(config: TrainConfig, vocab_size: int, **fields):
    """The model config ``config`` trains with a tokenizer of ``vocab_size`` ids: its size, ``model_overrides``,
    then ``fields`` (e.g. the tokenizer's special ids) and the recipe's dropout overrides."""
    cls = LtgBertConfig if config.model_type == "ltg-bert" else GptBertConfig
    fields = {"vocab_size": vocab_size, **config.model_overrides, **fields}
    if config.hidden_dropout is not None:
        fields["hidden_dropout_prob"] = config.hidden_dropout
    if config.attention_dropout is not None:
        fields["attention_probs_dropout_prob"] = config.attention_dropout
    return cls.named(config.model_size, **fields) if config.model_size else cls(**fields)


def recipe_steps(config: TrainConfig, corpus_tokens: int | None = None) -> int:
    """The number of optimizer steps: ``steps``, or ``epochs`` over a packed stream of ``corpus_tokens``."""
    if config.steps is not None:
        return config.steps
    if corpus_tokens is None or corpus_tokens < config.seq_length:
        raise ValueError(f"recipe {config.name!r} trains for {config.epochs} epochs: give corpus_tokens (the "
                         f"tokenized corpus's length, at least {config.seq_length}), got {corpus_tokens!r}")
    return math.ceil(config.epochs * (corpus_tokens // (config.seq_length - 1)) / config.batch_size)


def recipe_flops(config: TrainConfig, vocab_size: int, corpus_tokens: int | None = None) -> float:
    """Model FLOPs of the whole run (every step's batch × length × FLOPs/token at that length)."""
    model_config = recipe_model_config(config, vocab_size)
    total = recipe_steps(config, corpus_tokens)
    per_length: dict[int, float] = {}
    flops = 0.0
    for step in range(total):
        length, batch = config.phase(step, total)
        if length not in per_length:
            per_length[length] = training_flops_per_token(model_config, length, config.head_fraction())
        flops += batch * length * per_length[length]
    return flops


def projected_gpu_hours(config: TrainConfig, vocab_size: int, mfu: float, corpus_tokens: int | None = None,
                        peak_tflops: float = H200_BF16_PEAK_TFLOPS) -> float:
    """Hours of one accelerator of ``peak_tflops`` running the recipe at model FLOPs utilisation ``mfu`` (0–1)."""
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {mfu!r}")
    return recipe_flops(config, vocab_size, corpus_tokens) / (mfu * peak_tflops * 1e12) / 3600

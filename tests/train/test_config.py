"""TrainConfig validation: every field is checked at construction, and the error names the field and the value."""

from __future__ import annotations

import numpy as np
import pytest

from babybias.train import RECIPES, MaskingConfig, SpanMaskingCollator, TokenMaskingCollator, TrainConfig, get_recipe

NAN = float("nan")

# (field, bad value, text the message must also contain besides "TrainConfig.<field>" (None: repr(value)),
#  other fields needed to reach the check)
BAD = [
    ("name", "", None),
    ("model_type", "bert", None),
    ("model_size", "ltg-bert-huge", None),
    ("model_overrides", {"hiden_size": 64}, "'hiden_size'"),
    ("model_overrides", {"hidden_size": 30, "num_attention_heads": 4}, "not a multiple"),
    ("model_overrides", {"vocab_size": 0}, "0"),
    ("objective", "mlm", None),
    ("objective", "hybrid", "model_type", {"model_type": "ltg-bert"}),
    ("steps", 0, None),
    ("steps", -5, None),
    ("steps", 2.5, None),
    ("steps", True, None),
    ("epochs", 0, None, {"steps": None}),
    ("epochs", float("inf"), None, {"steps": None}),
    ("batch_size", 0, None),
    ("batch_size", 30, "grad_accumulation=4", {"grad_accumulation": 4}),
    ("seq_length", 4, None),
    ("length_schedule", ((1.5, 256, 0.5),), "(1.5, 256, 0.5)"),
    ("length_schedule", ((0.5, 4, 0.5),), "(0.5, 4, 0.5)"),
    ("batch_rampup", 1.0, None),
    ("batch_rampup", -0.1, None),
    ("grad_accumulation", 0, None),
    ("optimizer", "sgd", None),
    ("lr", 0, None),
    ("lr", -1e-3, None),
    ("lr", NAN, "nan"),
    ("lr", "1e-3", None),
    ("betas", (0.9, 1.0), None),
    ("betas", (0.9,), None),
    ("betas", (-0.1, 0.98), None),
    ("eps", 0, None),
    ("weight_decay", -0.1, None),
    ("clip", -1.0, None),
    ("warmup", 1.0, None),
    ("warmup", -0.1, None),
    ("decay", "cosin", None),
    ("min_lr_ratio", 1.5, None),
    ("mask_rate", 0.0, None),
    ("mask_rate", 1.0, None),
    ("mask_rate_end", 1.5, None),
    ("mask_rate_end", 0.0, None),
    ("causal_fraction", 1.2, None),
    ("z_loss", -1e-4, None),
    ("ema", 1.0, None),
    ("ema", 0.0, None),
    ("hidden_dropout", 1.0, None),
    ("attention_dropout", -0.1, None),
    ("bf16", "yes", None),
    ("compile", 1, None),
    ("seed", -1, None),
    ("log_every", 0, None),
    ("save_every", 0, None),
    ("keep_last", 0, None),
    ("num_proc", 0, None),
    ("report_to", ("mlflow",), None),
    ("report_to", "wandb", None),
]
BAD = [case if len(case) == 4 else (*case, {}) for case in BAD]


@pytest.mark.parametrize("field,value,snippet,context", BAD, ids=[f"{c[0]}={c[1]!r}" for c in BAD])
def test_bad_field_is_refused_with_its_name_and_value(field, value, snippet, context):
    with pytest.raises(ValueError) as error:
        TrainConfig(**{**context, field: value})
    message = str(error.value)
    assert f"TrainConfig.{field}" in message, message
    assert (repr(value) if snippet is None else snippet) in message, message
    assert "\n" not in message  # one line


def test_overrides_of_a_recipe_are_validated_too():
    with pytest.raises(ValueError, match=r"TrainConfig\.mask_rate_end .*1\.5"):
        get_recipe("tiny", mask_rate_end=1.5)  # used to be accepted and fail mid-training


def test_good_configs_pass_and_lists_become_tuples():
    for name in RECIPES:
        assert get_recipe(name).name == name
    config = TrainConfig(betas=[0.9, 0.99], length_schedule=[[0.5, 64, 1.0]], report_to=[], steps=None, epochs=0.5)
    assert config.betas == (0.9, 0.99) and config.length_schedule == ((0.5, 64, 1.0),) and config.report_to == ()
    assert TrainConfig(ema=None, hidden_dropout=0.0, mask_rate_end=None, seed=np.int64(3)).seed == 3


@pytest.mark.parametrize("collator", [TokenMaskingCollator, SpanMaskingCollator])
def test_scheduled_mask_rate_reaches_every_collator(collator):
    """mask_rate_end is a schedule for every objective (it used to be ignored silently by span and token)."""
    rng = np.random.default_rng(0)
    segs = [np.concatenate([[1], rng.integers(20, 500, 63)]) for _ in range(400)]
    masking = MaskingConfig(mask_token_id=4, vocab_size=500, special_ids=(0, 1, 2, 3, 4), pad_token_id=3)
    collate = collator(masking, rate=0.15, seed=0, **({"short_p": 0.0} if collator is SpanMaskingCollator else {}))
    for rate in (0.15, 0.4):
        batch = collate(segs, np.arange(len(segs)), 0, rate)
        assert abs((batch["labels"] != -100).float().mean().item() * 64 / 63 - rate) < 0.01

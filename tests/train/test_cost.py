"""What a recipe costs: FLOPs over every step's length and batch, GPU-hours at an MFU (by hand)."""

from __future__ import annotations

import math

import pytest

from babybias.models import training_flops_per_token
from babybias.train import TrainConfig, get_recipe, projected_gpu_hours, recipe_flops, recipe_model_config, recipe_steps


def test_recipe_flops_price_each_phase():
    config = get_recipe("ltg_bert_100m", steps=100)  # the last 10 % at length 512 with a quarter of the batch
    model = recipe_model_config(config, 16384)
    by_hand = (90 * 256 * 128 * training_flops_per_token(model, 128, 0.15)
               + 10 * 64 * 512 * training_flops_per_token(model, 512, 0.15))
    assert recipe_flops(config, 16384) == pytest.approx(by_hand, rel=1e-12)
    hours = projected_gpu_hours(config, 16384, mfu=0.4, peak_tflops=790.0)
    assert hours == pytest.approx(by_hand / (0.4 * 790e12) / 3600, rel=1e-12)


def test_an_epochs_recipe_needs_the_corpus_length():
    config = get_recipe("ltg_baseline_100m")
    tokens = 130_000_000
    assert recipe_steps(config, tokens) == math.ceil(20 * (tokens // 127) / 256)
    with pytest.raises(ValueError, match="corpus_tokens"):
        recipe_flops(config, 16384)
    with pytest.raises(ValueError, match="mfu"):
        projected_gpu_hours(config, 16384, mfu=0.0, corpus_tokens=tokens)


def test_head_fraction_and_compile_backend():
    assert get_recipe("ltg_bert_100m").head_fraction() == 0.15
    gpt = get_recipe("gpt_bert_100m")  # 1/16 causal rows (every position) + 15/16 masked at the mean rate 0.225
    assert gpt.head_fraction() == pytest.approx(1 / 16 + 15 / 16 * 0.225)
    assert TrainConfig(objective="causal").head_fraction() == 1.0
    assert TrainConfig().compile_backend() is None and TrainConfig(compile=True).compile_backend() == "inductor"
    assert TrainConfig(compile="aot_eager").compile_backend() == "aot_eager"
    with pytest.raises(ValueError, match="TrainConfig.compile"):
        TrainConfig(compile="fast")

"""The project's one FLOPs formula, against the models' own weights and a count by hand."""

from __future__ import annotations

import pytest
import torch

from babybias.models import GptBertConfig, GptBertForCausalLM, LtgBertConfig, LtgBertForMaskedLM, mfu, training_flops_per_token
from babybias.models.flops import layer_matmul_params


@pytest.mark.parametrize("config, cls", [(LtgBertConfig.named("ltg-bert-base"), LtgBertForMaskedLM),
                                         (GptBertConfig.named("gpt-bert-small"), GptBertForCausalLM)])
def test_layer_weights_are_the_models_matrix_products(config, cls):
    with torch.device("meta"):
        model = cls(config)
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and not name.startswith("head"))
    assert linear == config.num_hidden_layers * layer_matmul_params(config)


def test_flops_per_token_by_hand():
    # LTG-BERT base, T = 128, head on 15 %: 6·12·(4·768² + 3·768·2048) + 12·12·768·(128 + 63) + 6·(768² + 768·16384)·0.15
    config = LtgBertConfig.named("ltg-bert-base")
    by_hand = 6 * 12 * (4 * 768**2 + 3 * 768 * 2048) + 12 * 12 * 768 * (128 + 63) + 6 * (768**2 + 768 * 16384) * 0.15
    assert training_flops_per_token(config, 128, 0.15) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(542.59e6, rel=1e-4)
    assert mfu(by_hand, 1e6) == pytest.approx(by_hand * 1e6 / 790e12)
    with pytest.raises(ValueError, match="head_fraction"):
        training_flops_per_token(config, 128, 1.5)
    with pytest.raises(ValueError, match="peak_tflops"):
        mfu(1.0, 1.0, peak_tflops=0)

"""Training BabyLMs: packed data, masking collators, recipes, the loop, checkpoints, callbacks.

>>> from babybias.train import get_recipe, train
>>> result = train(get_recipe("tiny"), corpus, tokenizer, "runs/tiny")   # doctest: +SKIP
"""

from .callbacks import (AttributeSubspaceLoss, EvaluationCallback, GenderEqualizingLoss, plot_trajectories, read_metrics,
                        single_token_pairs)
from .checkpoint import is_valid, latest_valid_checkpoint, list_checkpoints, save_checkpoint
from .collators import CausalCollator, HybridCollator, MaskingConfig, SpanMaskingCollator, TokenMaskingCollator
from .config import RECIPES, TrainConfig, dropout_debiasing, get_recipe
from .cost import projected_gpu_hours, recipe_flops, recipe_model_config, recipe_steps
from .data import TokenStream, global_batch_indices, tokenize_corpus
from .loop import LossModule, StepBatches, TrainResult, build_model, load_init_model, step_batches, train
from .optim import Lamb, lr_factor, parameter_groups

__all__ = [
    "AttributeSubspaceLoss", "single_token_pairs", "EvaluationCallback", "GenderEqualizingLoss", "plot_trajectories", "read_metrics", "is_valid", "latest_valid_checkpoint",
    "list_checkpoints", "save_checkpoint", "CausalCollator", "HybridCollator", "MaskingConfig", "SpanMaskingCollator", "TokenMaskingCollator",
    "RECIPES", "TrainConfig", "dropout_debiasing", "get_recipe", "TokenStream", "global_batch_indices", "tokenize_corpus",
    "LossModule", "TrainResult", "build_model", "load_init_model", "train", "Lamb", "lr_factor", "parameter_groups",
    "StepBatches", "step_batches", "projected_gpu_hours", "recipe_flops", "recipe_model_config", "recipe_steps",
]

"""Sizes and the small training run the GPU tests share; run as a script by ``torchrun`` in
``test_torchrun_equals_one_process``: ``_train_run.py SIZE OUTPUT_DIR RESULT_JSON``."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Size:
    """Model and batch sizes of one device's tests."""

    hidden: int
    layers: int
    heads: int
    batch: int
    length: int
    vocab: int
    limit: int | None  # items per benchmark (per group where it has groups) in the scoring tests
    bf16_points: float  # how far bf16 scores may be from fp32's: a toy model's slices are a few dozen near-ties


SIZES = {"toy": Size(hidden=64, layers=2, heads=2, batch=4, length=32, vocab=500, limit=2, bf16_points=15.0),
         "gpu": Size(hidden=256, layers=4, heads=4, batch=16, length=128, vocab=2000, limit=20, bf16_points=5.0)}


def recipe(model_type: str, size: Size, steps: int):
    """A bf16 LAMB recipe of the small model: LTG-BERT span masking, or GPT-BERT's hybrid objective with EMA."""
    from babybias.train import TrainConfig

    model = dict(hidden_size=size.hidden, num_hidden_layers=size.layers, num_attention_heads=size.heads,
                 intermediate_size=2 * size.hidden)
    common = dict(name=f"gpu-test-{model_type}", model_type=model_type, model_overrides=model, steps=steps,
                  batch_size=size.batch, seq_length=size.length, optimizer="lamb", lr=2e-3, warmup=0.1, log_every=2,
                  save_every=max(1, steps // 2), keep_last=2, bf16=True)
    if model_type == "ltg-bert":
        return TrainConfig(objective="span", **common)
    return TrainConfig(objective="hybrid", causal_fraction=0.25, ema=0.9, mask_rate=0.3, mask_rate_end=0.15, **common)


def run(size_name: str, output_dir: str | os.PathLike) -> dict:
    """Train the small LTG-BERT for a few steps; its losses, a hash of its weights and the process group's backend."""
    import torch
    import torch.distributed as dist

    from babybias.corpus import wikipedia_sample
    from babybias.models import train_tokenizer
    from babybias.train import train

    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    size = SIZES[size_name]
    corpus = wikipedia_sample().select(range(1500))
    tokenizer = train_tokenizer(corpus["text"], vocab_size=size.vocab, kind="wordpiece", min_frequency=2, lowercase=True)
    result = train(recipe("ltg-bert", size, 10 if size_name == "gpu" else 6), corpus, tokenizer, output_dir,
                   progress=False, data_workers=0)
    digest = hashlib.sha256()
    for name, tensor in result.model.state_dict().items():
        digest.update(name.encode() + tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return {"losses": [h["loss"] for h in result.history], "weights_sha256": digest.hexdigest(),
            "backend": dist.get_backend() if dist.is_initialized() else None}


if __name__ == "__main__":
    import torch.distributed as dist

    record = run(sys.argv[1], sys.argv[2])
    if not dist.is_initialized() or dist.get_rank() == 0:
        Path(sys.argv[3]).write_text(json.dumps(record))
    if dist.is_initialized():
        dist.destroy_process_group()

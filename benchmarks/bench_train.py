"""Training throughput of the recipes through ``babybias.train.train`` (the real loop).

    python benchmarks/bench_train.py                      # CPU: the tiny recipe on the shipped sample
    python benchmarks/bench_train.py --recipe ltg_bert_100m --steps 40 --compile   # on a GPU (bf16 autocast)

Prints tokens/second (median of the logged intervals after the first) and, on CUDA, the model
FLOPs utilisation (:mod:`babybias.models.flops`, the project's one formula, against ``--peak-tflops``,
default the H200's measured 790) and the projected GPU-hours of ``ltg_baseline_100m`` (20 epochs over
100M words, ``--tokens-per-word`` tokens a word) at that MFU (:func:`babybias.train.projected_gpu_hours`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from babybias.experiment import shipped_corpus
from babybias.models import H200_BF16_PEAK_TFLOPS, mfu, train_tokenizer, training_flops_per_token
from babybias.train import get_recipe, projected_gpu_hours, recipe_model_config, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--peak-tflops", type=float, default=H200_BF16_PEAK_TFLOPS)
    parser.add_argument("--tokens-per-word", type=float, default=1.3)
    args = parser.parse_args()
    corpus = shipped_corpus()
    recipe = get_recipe(args.recipe)
    kind = "bpe" if recipe.model_type == "gpt-bert" else "wordpiece"
    tokenizer = train_tokenizer(corpus["text"], vocab_size=args.vocab_size, kind=kind, min_frequency=2, lowercase=True)
    config = recipe.replace(steps=args.steps, epochs=None, log_every=max(1, args.steps // 10), save_every=10**9,
                            compile=args.compile)
    with tempfile.TemporaryDirectory() as out:
        result = train(config, corpus, tokenizer, out, progress=False)
    rates = [h["tokens_per_second"] for h in result.history[1:]] or [result.history[0]["tokens_per_second"]]
    rate = statistics.median(rates)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    params = sum(p.numel() for p in result.model.parameters())
    print(f"{args.recipe}: {params / 1e6:.1f}M params, {device}, compile={args.compile}, {args.steps} steps, "
          f"batch {config.batch_size} x {config.seq_length}: {rate:,.0f} tokens/s (final loss {result.final_loss:.3f})")
    if device == "cuda":
        flops = training_flops_per_token(recipe_model_config(config, len(tokenizer)), config.seq_length, config.head_fraction())
        utilisation = mfu(flops, rate, args.peak_tflops)
        print(f"MFU {100 * utilisation:.1f}% of {args.peak_tflops} TFLOP/s")
        hours = projected_gpu_hours(get_recipe("ltg_baseline_100m"), 16384, utilisation,
                                    corpus_tokens=int(100e6 * args.tokens_per_word), peak_tflops=args.peak_tflops)
        print(f"projected ltg_baseline_100m (20 epochs, {100e6 * args.tokens_per_word * 20 / 1e9:.1f}B tokens): "
              f"{hours:.2f} GPU-hours at this MFU")


if __name__ == "__main__":
    main()

"""Training throughput of the recipes through ``babybias.train.train`` (the real loop).

    python benchmarks/bench_train.py                      # CPU: the tiny recipe on the shipped sample
    python benchmarks/bench_train.py --recipe ltg_bert_100m --steps 40 --compile   # on a GPU (bf16 autocast)

Prints tokens/second (median of the logged intervals after the first) and, on CUDA, the model
FLOPs utilisation (FLOPs/token = 6·N_body + 12·L·D·T + 6·D·V·p_mask, as benchmarks/bench_models.py)
and the projected GPU-hours of ``ltg_baseline_100m`` (20 epochs over 100M words, ``--tokens-per-word``
tokens a word).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from babybias.experiment import shipped_corpus
from babybias.models import train_tokenizer
from babybias.train import get_recipe, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--vocab-size", type=int, default=3000)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
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
        c = result.model.config
        body = params - c.vocab_size * c.hidden_size
        flops = 6 * body + 12 * c.num_hidden_layers * c.hidden_size * config.seq_length + 6 * c.hidden_size * c.vocab_size * 0.15
        print(f"MFU {100 * flops * rate / (args.peak_tflops * 1e12):.1f}% of {args.peak_tflops} TFLOP/s")
        tokens = 20 * 100e6 * args.tokens_per_word
        print(f"projected ltg_baseline_100m (20 epochs, {tokens / 1e9:.1f}B tokens): {tokens / rate / 3600:.2f} GPU-hours")


if __name__ == "__main__":
    main()

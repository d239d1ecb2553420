"""Forward+backward training throughput of LTG-BERT / GPT-BERT: eager vs fast (SDPA) attention.

    python benchmarks/bench_models.py                                  # CPU: tiny config and ltg-bert-xs, batch 16 x 128
    python benchmarks/bench_models.py --device cuda --config ltg-bert-base --bf16 --compile --steps 30

Prints tokens/second of one masked-LM training step (15% of positions labelled, loss.backward(),
no optimizer) for each attention implementation, and on CUDA the model FLOPs utilisation with the
project's one formula (:mod:`babybias.models.flops`: matrix products, attention and the relative-position
terms) against the H200's measured bf16 peak of 790 TFLOP/s.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from babybias.models import (H200_BF16_PEAK_TFLOPS, GptBertConfig, GptBertForMaskedLM, LtgBertConfig, LtgBertForMaskedLM,
                             mfu, training_flops_per_token)

TINY = dict(vocab_size=2000, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)


def build(name: str):
    if name == "tiny":
        return LtgBertForMaskedLM(LtgBertConfig(**TINY))
    if name.startswith("ltg-bert"):
        return LtgBertForMaskedLM(LtgBertConfig.named(name))
    return GptBertForMaskedLM(GptBertConfig.named(name))


def measure(model, impl: str, args) -> float:
    model.set_attention_implementation(impl)
    step_model = torch.compile(model) if args.compile else model
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, model.config.vocab_size, (args.batch, args.length), generator=g).to(args.device)
    labels = torch.where(torch.rand(ids.shape, generator=g).to(args.device) < args.mask_rate, ids, -100)
    labels[:, 0] = -100  # position 0 is the CLS/BOS token
    autocast = torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16)

    def step():
        with autocast:
            loss = step_model(ids, labels=labels).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return args.batch * args.length * args.steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="tiny, ltg-bert-xs/small/base, gpt-bert-small/base (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--impl", action="append", choices=["eager", "sdpa"], help="default: both")
    parser.add_argument("--peak-tflops", type=float, default=H200_BF16_PEAK_TFLOPS,
                        help="accelerator peak for MFU (default: the H200's measured bf16 rate, 790)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
          + f", batch {args.batch} x {args.length}, bf16={args.bf16}, compile={args.compile}")
    for name in args.config or ["tiny", "ltg-bert-xs"]:
        model = build(name).to(args.device).train()
        rates = {impl: measure(model, impl, args) for impl in args.impl or ["eager", "sdpa"]}
        params = sum(p.numel() for p in model.parameters()) / 1e6
        line = f"{name:15s} {params:6.1f}M params  " + "  ".join(f"{k}: {v:9.0f} tok/s" for k, v in rates.items())
        if len(rates) == 2:
            line += f"  fast/eager {rates['sdpa'] / rates['eager']:.2f}x"
        if args.device.startswith("cuda"):
            f = training_flops_per_token(model.config, args.length, args.mask_rate)
            line += "  MFU " + " ".join(f"{k} {100 * mfu(f, v, args.peak_tflops):.1f}%" for k, v in rates.items())
        print(line, flush=True)


if __name__ == "__main__":
    main()

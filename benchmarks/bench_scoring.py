"""Throughput of the batched masked-LM PLL scorer vs naive loops, on BLiMP sentences.

    python benchmarks/bench_scoring.py [--per-paradigm 6] [--full] [--device cpu] [--size tiny|base] [--bf16]

Prints sentences/second for
  * naive per-token:    one forward pass per masked token, one sentence at a time (nyu-mll crows-pairs style);
  * naive per-sentence: one forward pass per sentence holding all its masked copies;
  * batched:            babybias MaskedLMScorer (masked copies of many sentences, length-sorted, padded);
and the largest absolute difference between the scores (must be <= 1e-5). ``--full`` also times
the whole of BLiMP (134,000 sentences) with the batched scorer only.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from babybias.evaluate.minimal_pairs import load_blimp
from babybias.evaluate.minimal_pairs import limit_per_group
from babybias.evaluate.scoring import MaskedLMScorer
from babybias.testing import tiny_masked_lm, tiny_tokenizer


def naive_per_token(model, tokenizer, texts, device):
    out = []
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer(text, return_special_tokens_mask=True)
            ids, special = enc["input_ids"], enc["special_tokens_mask"]
            lps = []
            for t in range(len(ids)):
                if special[t]:
                    continue
                masked = torch.tensor([ids], device=device)
                masked[0, t] = tokenizer.mask_token_id
                logits = model(input_ids=masked).logits[0, t].float()
                lps.append(torch.log_softmax(logits, -1)[ids[t]].item())
            out.append(np.array(lps))
    return out


def naive_per_sentence(model, tokenizer, texts, device):
    out = []
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer(text, return_special_tokens_mask=True)
            ids, special = enc["input_ids"], enc["special_tokens_mask"]
            pos = [t for t in range(len(ids)) if not special[t]]
            batch = torch.tensor([ids] * len(pos), device=device)
            batch[torch.arange(len(pos)), torch.tensor(pos)] = tokenizer.mask_token_id
            logits = model(input_ids=batch).logits[torch.arange(len(pos)), torch.tensor(pos)].float()
            out.append(torch.log_softmax(logits, -1)[torch.arange(len(pos)), torch.tensor([ids[p] for p in pos])].cpu().numpy())
    return out


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-paradigm", type=int, default=6, help="BLiMP pairs per paradigm for the comparison")
    parser.add_argument("--full", action="store_true", help="also time all 67,000 BLiMP pairs (batched only)")
    parser.add_argument("--size", choices=["tiny", "base"], default="tiny", help="tiny: 2x64 BERT; base: 12x768 BERT")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="cast the model to bfloat16")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--skip-per-token", action="store_true")
    args = parser.parse_args()

    tok = tiny_tokenizer("wordpiece")
    size = {"tiny": dict(hidden=64, layers=2, heads=2), "base": dict(hidden=768, layers=12, heads=12)}[args.size]
    model = tiny_masked_lm(tok, **size).to(args.device)
    if args.bf16:
        model = model.to(torch.bfloat16)
    rows = limit_per_group(load_blimp(), "UID", args.per_paradigm)
    texts = [r["sentence_good"] for r in rows] + [r["sentence_bad"] for r in rows]
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"device {args.device}, model {args.size} ({sum(p.numel() for p in model.parameters()):,} params)"
          f"{', bf16' if args.bf16 else ''}")
    scorer = MaskedLMScorer(model, tok, batch_size=args.batch_size, progress=False)
    scorer.sentence_log_probs(texts[:64])  # warm-up
    batched, t_b = timed(scorer.sentence_log_probs, texts)
    per_sent, t_s = timed(naive_per_sentence, model, tok, texts, args.device)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(batched, per_sent))
    print(f"{len(texts)} BLiMP sentences ({args.per_paradigm} pairs x 67 paradigms)")
    print(f"  batched scorer       {len(texts) / t_b:9.1f} sentences/s")
    print(f"  naive per-sentence   {len(texts) / t_s:9.1f} sentences/s   speed-up {t_s / t_b:5.1f}x   max |diff| {diff:.2e}")
    if not args.skip_per_token:
        per_tok, t_t = timed(naive_per_token, model, tok, texts, args.device)
        diff_t = max(float(np.abs(a - b).max()) for a, b in zip(batched, per_tok))
        print(f"  naive per-token      {len(texts) / t_t:9.1f} sentences/s   speed-up {t_t / t_b:5.1f}x   max |diff| {diff_t:.2e}")
    if args.full:
        all_rows = load_blimp()
        all_texts = [r["sentence_good"] for r in all_rows] + [r["sentence_bad"] for r in all_rows]
        _, t_full = timed(scorer.sentence_log_probs, all_texts)
        print(f"  full BLiMP (batched) {len(all_texts)} sentences in {t_full:.1f} s = {len(all_texts) / t_full:.1f} sentences/s")


if __name__ == "__main__":
    main()

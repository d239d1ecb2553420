"""The ``babybias`` command: ``babybias sandbox`` (the main job) and ``babybias evaluate``."""

from __future__ import annotations

import argparse
import sys


def _sandbox(args) -> int:
    from .experiment import SandboxConfig, run

    if args.quiet:
        import datasets

        datasets.disable_progress_bars()

    config = SandboxConfig(recipe=args.recipe, corpus=args.corpus, output_dir=args.output, steps=args.steps,
                           conditions=tuple(args.conditions), vocab_size=args.vocab_size, seed=args.seed,
                           blimp_limit=None if args.blimp_limit == 0 else args.blimp_limit, supplement=args.supplement,
                           ewok=args.ewok, ewok_password=args.ewok_password, progress=not args.quiet)
    table = run(config)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string())
    print(f"\nwritten: {config.output_dir}/results.json, table.csv, comparison.png")
    return 0


def _evaluate(args) -> int:
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from . import models  # noqa: F401  (registers our architectures with the Auto classes)
    from .evaluate import evaluate

    auto = AutoModelForCausalLM if args.kind == "clm" else AutoModelForMaskedLM
    model = auto.from_pretrained(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model)
    result = evaluate(model, tokenizer, args.benchmarks, kind=args.kind, limit=args.limit, device=args.device)
    for key, value in result.scores.items():
        if args.all or key.count("/") <= 2 and "paradigm/" not in key:
            print(f"{key:45s} {value:8.2f}")
    if args.output:
        result.to_json(args.output)
        print(f"written: {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="babybias", description="Pre-training debiasing research on BabyLMs.")
    sub = parser.add_subparsers(dest="command", required=True)
    sb = sub.add_parser("sandbox", help="baseline vs CDA vs duplication control: train, evaluate, compare")
    sb.add_argument("--recipe", default="tiny", help="tiny (CPU, minutes) or ltg_bert_10m, ltg_baseline_100m, gpt_bert_100m, ...")
    sb.add_argument("--corpus", help="text file or folder (one unit per line); default: the shipped Wikipedia sample")
    sb.add_argument("--output", default="sandbox_results")
    sb.add_argument("--steps", type=int, help="override the recipe's number of steps")
    sb.add_argument("--conditions", nargs="+", default=["baseline", "cda", "duplication"])
    sb.add_argument("--vocab-size", type=int, default=2000)
    sb.add_argument("--seed", type=int, default=0)
    sb.add_argument("--blimp-limit", type=int, default=100, help="BLiMP pairs per paradigm (0 = all)")
    sb.add_argument("--supplement", help="folder of the BabyLM BLiMP supplement")
    sb.add_argument("--ewok", help="EWoK folder, file or zip")
    sb.add_argument("--ewok-password")
    sb.add_argument("--quiet", action="store_true")
    sb.set_defaults(func=_sandbox)
    ev = sub.add_parser("evaluate", help="evaluate a saved or hub model on bias and ability benchmarks")
    ev.add_argument("model", help="a save_pretrained folder or hub name")
    ev.add_argument("--tokenizer")
    ev.add_argument("--kind", choices=["mlm", "clm"], default="mlm")
    ev.add_argument("--benchmarks", nargs="+", default=["crows_pairs", "stereoset", "winobias", "blimp"])
    ev.add_argument("--limit", type=int)
    ev.add_argument("--device")
    ev.add_argument("--output", help="write the full result JSON here")
    ev.add_argument("--all", action="store_true", help="print every score, per paradigm too")
    ev.set_defaults(func=_evaluate)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""Evaluate a model on every benchmark and print one table.

    python examples/evaluate_any_model.py                       # tiny random BERT + GPT-2, 50 items per group
    python examples/evaluate_any_model.py --limit all           # the full benchmarks (slow on a CPU)
    python examples/evaluate_any_model.py --model bert-base-uncased   # any hub model (needs internet), scored as its own kind
    python examples/evaluate_any_model.py --supplement ../shared/data/blimp_supplement \
        --ewok ../shared/data/ewok_filtered_babylm/ewok_filtered.zip --ewok-password ewok

Without --model it builds two small random models (a BERT-style masked LM and a GPT-2-style
causal LM, tokenizers trained on the shipped benchmark text), so the numbers sit near chance:
the point is the pipeline. The BLiMP supplement and EWoK are not shipped; pass their paths.
"""

from __future__ import annotations

import argparse

import pandas as pd

from babybias.cli import limit_arg
from babybias.evaluate import BLiMP, BlimpSupplement, CrowsPairs, EWoK, StereoSet, WinoBias, evaluate
from babybias.testing import tiny_causal_lm, tiny_masked_lm, tiny_tokenizer

HEADLINE = ["crows_pairs/overall", "crows_pairs/gender", "stereoset/overall/ss", "stereoset/overall/lms",
            "stereoset/overall/icat", "stereoset/gender/ss", "winobias/pro", "winobias/anti", "winobias/gap",
            "blimp/overall", "blimp_filtered/overall", "blimp_supplement/overall", "ewok/overall"]


def load_models(args) -> dict[str, tuple]:
    """name -> (model, tokenizer, kind); kind None lets ``evaluate`` tell it from the model."""
    if args.model:
        from babybias.models import lm_kind_reason, load_lm, load_tokenizer, read_config  # what `babybias evaluate` uses

        config = read_config(args.model)
        kind, why = (args.kind, "from --kind") if args.kind else lm_kind_reason(config)
        print(f"kind: {kind} ({why})", flush=True)
        return {args.model: (load_lm(args.model, kind, config=config), load_tokenizer(args.model), kind)}
    wp, bpe = tiny_tokenizer("wordpiece"), tiny_tokenizer("bpe")
    return {"tiny-bert (random)": (tiny_masked_lm(wp), wp, None), "tiny-gpt2 (random)": (tiny_causal_lm(bpe), bpe, None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a hub name or local path; default: two tiny random models")
    parser.add_argument("--kind", choices=["mlm", "clm"],
                        help="with --model: score as a masked or causal LM (default: the model's own kind, from its config)")
    parser.add_argument("--limit", type=limit_arg, default=50, help="items per paradigm/domain/file: an integer >= 1, or 'all'")
    parser.add_argument("--supplement", help="folder of the BabyLM BLiMP supplement .jsonl files")
    parser.add_argument("--ewok", help="EWoK folder, file or password-protected zip")
    parser.add_argument("--ewok-password")
    parser.add_argument("--out", help="write each model's full result JSON under this folder")
    args = parser.parse_args()

    benchmarks = [CrowsPairs(), StereoSet(), WinoBias(), BLiMP(), BLiMP(name="blimp_filtered", subset="babylm_filtered")]
    if args.supplement:
        benchmarks.append(BlimpSupplement(source=args.supplement))
    if args.ewok:
        benchmarks.append(EWoK(source=args.ewok, password=args.ewok_password))
    table = {}
    for name, (model, tokenizer, kind) in load_models(args).items():
        result = evaluate(model, tokenizer, benchmarks, kind=kind, limit=args.limit)
        table[name] = {k: result.scores.get(k) for k in HEADLINE if k in result.scores}
        if args.out:
            result.to_json(f"{args.out}/{name.split()[0].replace('/', '_')}.json")
    pd.set_option("display.width", 200)
    print(pd.DataFrame(table).round(2).to_string())


if __name__ == "__main__":
    main()

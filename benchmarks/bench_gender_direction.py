"""Gender-direction scores of sandbox models: does CDA shift them by more than their bootstrap intervals?

    python benchmarks/bench_gender_direction.py --baseline sandbox_results/cells/baseline/seed-0/train/final \
        --cda sandbox_results/cells/cda/seed-0/train/final \
        --duplication sandbox_results/cells/duplication/seed-0/train/final [--out gender_direction.json]

(The sandbox itself now reports these effects over seeds and items for every seed of the grid;
this script compares single models, e.g. one seed's, with the Kurita score too.)

Evaluates ``gender_log_odds`` (every WinoBias test sentence + the occupation templates) and
``kurita`` on each model folder (a GPT-BERT causal LM or any model folder with its tokenizer),
then prints

* each model's mean per-item log-odds, log p(male) − log p(female), with a 95 % BCa bootstrap
  interval over items (overall and per source: ``winobias``, ``templates``);
* for baseline vs cda and baseline vs duplication, the paired difference (condition − baseline) of
  the mean per-item log-odds on the same items: ``paired_bootstrap`` (items resampled with their
  pairs kept together, 95 % BCa) and a sign-flip permutation p-value;
* the same for the Kurita bias score per occupation (n = 40 occupations).

The intervals are over **items**, for one trained model per condition (one seed): they do not
include seed-to-seed variation. The acceptance measurement of issue 9 (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import babybias.models  # noqa: F401  (registers GPT-BERT / LTG-BERT with the Auto classes)
from babybias.analysis import bootstrap_ci, paired_bootstrap
from babybias.evaluate import evaluate

KEYS = ["text", "occupation", "source"]


def load(path: str):
    """A sandbox model folder (a GPT-BERT as its causal LM, anything else as a masked LM) and its tokenizer."""
    from babybias.models import load_lm, load_tokenizer, read_config

    kind = "clm" if read_config(path).model_type == "gpt-bert" else "mlm"
    return load_lm(path, kind).eval(), load_tokenizer(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, help="baseline model folder")
    ap.add_argument("--cda", required=True, help="CDA model folder")
    ap.add_argument("--duplication", default=None, help="duplication-control model folder (optional)")
    ap.add_argument("--limit", type=int, default=None, help="first N items per WinoBias file / occupation list (default all)")
    ap.add_argument("--n-resamples", type=int, default=9999)
    ap.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    ap.add_argument("--out", default="gender_direction.json", help="JSON with every figure printed")
    args = ap.parse_args()

    folders = {"baseline": args.baseline, "cda": args.cda}
    if args.duplication:
        folders["duplication"] = args.duplication
    t0 = time.perf_counter()
    rows, kurita, scores = {}, {}, {}
    for name, path in folders.items():
        model, tok = load(path)
        res = evaluate(model, tok, ["gender_log_odds", "kurita"], limit=args.limit, progress=False)
        rows[name] = res["gender_log_odds"].rows.reset_index(drop=True)
        kurita[name] = res["kurita"].rows.reset_index(drop=True)
        scores[name] = res.scores
    elapsed = time.perf_counter() - t0

    # same items in the same order in every model (same benchmark, same limit): check, then pair by position
    base = rows["baseline"]
    for name, frame in rows.items():
        assert frame[KEYS].equals(base[KEYS]), f"{name}: items differ from baseline's"
    kb = kurita["baseline"]
    kcol = "bias"
    for name, frame in kurita.items():
        assert frame["attribute"].equals(kb["attribute"]), f"{name}: kurita occupations differ"

    out = {"command": "python benchmarks/bench_gender_direction.py " + " ".join(
               f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out"),
           "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
           "date": time.strftime("%Y-%m-%d", time.gmtime()), "eval_seconds": round(elapsed, 1),
           "interval": "95 % bootstrap (BCa) over items; one trained model (seed) per condition",
           "means": [], "paired": [], "scores": scores}
    subsets = {"all": slice(None)} | {s: (base["source"] == s).to_numpy() for s in sorted(base["source"].unique())}

    print(f"gender_log_odds: log p(male) − log p(female), natural log, > 0 prefers male; "
          f"95 % BCa bootstrap over items, {args.n_resamples} resamples, one seed per condition")
    print(f"\n{'model':<12} {'items':<10} {'n':>5} {'mean log-odds':>14} {'95 % CI':>20}")
    for name, frame in rows.items():
        for sub, mask in subsets.items():
            v = frame["log_odds"].to_numpy()[mask]
            ci = bootstrap_ci(v, n_resamples=args.n_resamples, seed=args.seed)
            out["means"].append({"model": name, "items": sub, **ci.to_dict()})
            print(f"{name:<12} {sub:<10} {ci.n:>5} {ci.estimate:>14.4f} {f'[{ci.low:.4f}, {ci.high:.4f}]':>20}")
    for name, frame in kurita.items():
        ci = bootstrap_ci(frame[kcol].to_numpy(), n_resamples=args.n_resamples, seed=args.seed)
        out["means"].append({"model": name, "items": "kurita", **ci.to_dict()})
        print(f"{name:<12} {'kurita':<10} {ci.n:>5} {ci.estimate:>14.4f} {f'[{ci.low:.4f}, {ci.high:.4f}]':>20}")

    print(f"\npaired difference (condition − baseline) of the mean, same items; interval over items, one seed")
    print(f"{'comparison':<24} {'items':<10} {'n':>5} {'difference':>11} {'95 % CI':>20} {'p (perm.)':>10} {'excludes 0':>10}")
    for name in [n for n in rows if n != "baseline"]:
        pairs = [(sub, base["log_odds"].to_numpy()[m], rows[name]["log_odds"].to_numpy()[m]) for sub, m in subsets.items()]
        pairs.append(("kurita", kb[kcol].to_numpy(), kurita[name][kcol].to_numpy()))
        for sub, a, b in pairs:
            d = paired_bootstrap(a, b, n_resamples=args.n_resamples, seed=args.seed)
            excl = d.low > 0 or d.high < 0
            out["paired"].append({"comparison": f"{name} − baseline", "items": sub, **d.to_dict(), "excludes_0": excl})
            print(f"{name + ' − baseline':<24} {sub:<10} {d.n:>5} {d.estimate:>11.4f} "
                  f"{f'[{d.low:.4f}, {d.high:.4f}]':>20} {d.p_value:>10.4f} {'yes' if excl else 'no':>10}")
    print(f"\nevaluation: {elapsed:.0f} s for {len(folders)} models")
    Path(args.out).write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

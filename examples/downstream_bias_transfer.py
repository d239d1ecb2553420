"""Bias transfer at tiny scale on the CPU: does an upstream or downstream intervention change a classifier's gaps?

    # trains one `sandbox`-recipe model (a tiny GPT-BERT) first (about 1 minute on 2 cores), then both grids
    python examples/downstream_bias_transfer.py --out /tmp/bias_transfer

    # your own pre-trained model and bios file; fewer cells
    python examples/downstream_bias_transfer.py --model path/to/model --bios my_bios.csv --tasks bios --seeds 2

The pre-trained model (``--model``, or a tiny GPT-BERT trained here with the ``sandbox`` recipe on the
Wikipedia sample shipped with babybias) is fine-tuned under every intervention × seed (the ``tiny`` fine-tuning
recipe) for two tasks:

* **bios** — occupation from biography on a Bias in Bios file (``--bios``; default the 280-bio sample
  in ``../shared/data/bias_in_bios/``, which babybias does not ship: real people's bios; ``hub`` reads
  ``LabHC/bias_in_bios``). 25 % of it is the test set. Primary metric: GAP_RMS, the root mean square
  over occupations of TPR(women) − TPR(men).
* **toxicity** — fine-tuned on 75 % of the 1,492 labelled Wikipedia comments shipped with babybias
  (Dixon et al. 2018; a small stand-in for Jigsaw / civil_comments), evaluated on ``--max-test``
  templated sentences of ``bias_madlibs_77k`` (stratified by template) and the other 25 % of the
  comments. Primary metric: FPED on the templates at the equal-error-rate threshold.

Interventions: baseline, scrub, rebalance, no pre-training, weight perturbation, and upstream
Sent-Debias (fitted on the Wikipedia sample; its projection stays fixed at the classifier input).

Every table cell is a mean over seeds with a 95 % t interval over seeds (n = seeds); each seed's own
value carries a bootstrap interval over test items (in ``cells/*/seed-*/cell.json`` and the plot).
Effects are intervention − baseline paired by seed. The primary metrics are fixed above, before any
run; the rest are exploratory. At this scale (a 500-step model, 210 training bios) the classifiers are
weak, so the numbers show the machinery, not a finding about BabyLMs. Runs on CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_BIOS = REPO.parent / "shared" / "data" / "bias_in_bios" / "bios_sample_28_professions.csv.gz"


def log(message: str) -> None:
    print(message, flush=True)


def pretrained_model(work: Path, steps: int | None) -> Path:
    """A ``sandbox``-recipe model (a tiny GPT-BERT) trained on the shipped Wikipedia sample, saved with its
    tokenizer (reused when it is there)."""
    from babybias.corpus import wikipedia_sample
    from babybias.models import train_tokenizer
    from babybias.train import get_recipe, train

    final = work / "pretrain" / "final"
    if (final / "config.json").exists():
        log(f"reusing the pre-trained model in {final}")
        return final
    recipe = get_recipe("sandbox", seed=0, **({} if steps is None else {"steps": steps, "epochs": None}))
    corpus = wikipedia_sample()
    kind = "bpe" if recipe.model_type == "gpt-bert" else "wordpiece"  # as the sandbox trains its tokenizer
    tokenizer = train_tokenizer(corpus["text"], vocab_size=2000, kind=kind, min_frequency=2, lowercase=True)
    log(f"pre-training one {recipe.name} {recipe.model_type} ({recipe.steps} steps) in {work / 'pretrain'} ...")
    start = time.perf_counter()
    result = train(recipe, corpus, tokenizer, work / "pretrain", progress=False)
    log(f"pre-trained in {time.perf_counter() - start:.0f} s (final loss {result.final_loss:.3f})")
    tokenizer.save_pretrained(final)
    return final


def intervention_list(names: list[str]):
    from babybias.debias import SentDebias
    from babybias.downstream import UpstreamDebias, get_intervention

    out = []
    for name in names:
        if name == "sent_debias":  # bias-bench's k = 1, on fewer pairs than its default for the CPU
            out.append(UpstreamDebias(SentDebias(max_pairs=4000)))
        else:
            out.append(get_intervention(name))
    return out


def main() -> None:
    from babybias.downstream import TransferConfig, bias_transfer, finetune_recipe

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="pre-trained model folder or hub name (default: train one here)")
    parser.add_argument("--work", default="downstream_work", help="where the pre-trained model goes (reused)")
    parser.add_argument("--pretrain-steps", type=int, help="steps of the model trained here (default: the recipe's 500)")
    parser.add_argument("--bios", default=str(SHARED_BIOS), help="Bias in Bios file, or 'hub'")
    parser.add_argument("--tasks", nargs="+", default=["bios", "toxicity"], choices=["bios", "toxicity"])
    parser.add_argument("--interventions", nargs="+",
                        default=["baseline", "scrub", "rebalance", "no_pretraining", "weight_perturbation", "sent_debias"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-test", type=int, default=4000, help="templated toxicity sentences scored (of 76,564)")
    parser.add_argument("--n-resamples", type=int, default=999, help="bootstrap resamples over test items")
    parser.add_argument("--max-steps", type=int, help="cap the fine-tuning steps of every cell (quick checks)")
    parser.add_argument("--toxicity-upstream-metric", default="crows_pairs/overall",
                        help="the toxicity grid's upstream probe (a babybias.evaluate score; default crows_pairs/overall)")
    parser.add_argument("--out", default="bias_transfer_example")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    model = args.model or str(pretrained_model(Path(args.work), args.pretrain_steps))
    report = {"model": model, "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
              "tasks": {}}
    cap = {} if args.max_steps is None else {"max_steps": args.max_steps}
    for task in args.tasks:
        if task == "bios":
            if args.bios != "hub" and not Path(args.bios).exists():
                raise SystemExit(f"--bios {args.bios} does not exist: pass your copy of Bias in Bios, or 'hub'")
            options = dict(train=None if args.bios == "hub" else args.bios, finetune=finetune_recipe("tiny", **cap))
        else:  # 1,119 comments x 3 epochs: about as many steps as the bios run
            options = dict(train="wikipedia-sample", max_test=args.max_test, upstream_metric=args.toxicity_upstream_metric,
                           finetune=finetune_recipe("tiny", epochs=3.0, **cap))
        config = TransferConfig(task=task, model=model, out_dir=Path(args.out) / task, seeds=args.seeds,
                                interventions=intervention_list(args.interventions), n_resamples=args.n_resamples,
                                **options)
        log(f"\n=== {task}: {len(config.interventions)} interventions x {len(config.seeds)} seeds, "
            f"primary metric {config.primary_metric} ===")
        t0 = time.perf_counter()
        result = bias_transfer(config)
        seconds = time.perf_counter() - t0
        secondary = {"bios": ["accuracy", "gap_share_pearson", "upstream/kurita"],
                     "toxicity": ["madlibs/fped_noise_floor", "madlibs/fned", "madlibs/auc", "wikipedia/auc",
                                  "wikipedia/fped", f"upstream/{args.toxicity_upstream_metric}"]}[task]
        with pd.option_context("display.width", 220, "display.max_columns", 20, "display.max_colwidth", 40):
            log(f"\nmeans over seeds, 95 % t interval over seeds (n = seeds):")
            log(result.pretty_table([result.primary_metric] + secondary).to_string())
            if not result.regression.empty:
                log("\nregression of the per-group gap on upstream bias and fine-tuning co-occurrence:")
                log(result.regression.to_string(index=False))
        log("\n" + "\n".join(result.summary))
        log(f"({task}: {seconds:.0f} s; written to {config.out_dir})")
        report["tasks"][task] = {"seconds": round(seconds, 1), "summary": result.summary,
                                 "table": json.loads(result.table.to_json(orient="records")),
                                 "effects": json.loads(result.effects.to_json(orient="records")),
                                 "regression": json.loads(result.regression.to_json(orient="records"))}
    report["seconds"] = round(time.perf_counter() - start, 1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "report.json").write_text(json.dumps(report, indent=1))
    log(f"\ntotal {report['seconds']:.0f} s; report: {Path(args.out) / 'report.json'}")


if __name__ == "__main__":
    main()

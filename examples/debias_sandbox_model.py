"""Post-model debiasing of the sandbox's baseline models: Sent-Debias, INLP and Self-Debias, before vs after.

    # on the baseline cells of a finished `babybias sandbox` run (one model per training seed)
    python examples/debias_sandbox_model.py --sandbox sandbox_results --out debias_results.json

    # quicker: fewer BLiMP pairs, fewer INLP rounds, two methods, two seeds
    python examples/debias_sandbox_model.py --blimp-limit 50 --inlp-iterations 20 \
        --methods sent-debias inlp --seeds 0 1

    # intra-model: continued pre-training (plain = the control, on CDA text, with dropout, with BERT-ASE's loss)
    python examples/debias_sandbox_model.py --methods cpt cpt-cda cpt-dropout cpt-ase --cpt-steps 150

    # on a fresh machine (no --sandbox folder): trains one `sandbox`-recipe model first, in --work
    python examples/debias_sandbox_model.py --sandbox does-not-exist --out /tmp/debias.json

For every baseline model ``DIR/cells/baseline/seed-*/train/final`` (its tokenizer is in the same
folder) each method is fitted on the Wikipedia sample shipped with babybias and applied:
Sent-Debias (k = 1), INLP (``--inlp-iterations`` rounds, default 80) and Self-Debias (the gender
prefix). Before and after, the model is scored on ``gender_log_odds`` (all items), CrowS-Pairs,
StereoSet (all items unless ``--bias-limit``) and BLiMP BabyLM-filtered (``--blimp-limit`` pairs
per paradigm, default 100 as in the sandbox).

Each table row is one metric: the mean over seeds before and after, and the effect (after −
before) with two 95 % intervals (:func:`babybias.experiment.estimate_effect`):

* **over seeds** — a t interval of the per-seed differences, paired by seed (n = seeds). It
  measures the training-seed variation of the base model: would the method do the same to another
  training run of the same recipe? (Fitting itself is seeded and deterministic.)
* **over items** — a paired bootstrap over benchmark items of the seed-averaged item values
  (n = items). It measures the benchmark's item sampling: would other test items agree?

The verdict is "distinguishable" when both intervals exclude 0 (at least two seeds needed), as in
the sandbox; these are exploratory comparisons, with no correction for multiplicity.

Without ``--sandbox`` (the folder does not exist) one model is trained with the ``sandbox``
recipe (500 steps, or ``--steps``) on the shipped corpus: about 1 minute on 2 CPU cores, then the
debiasing (a few minutes). One seed gives no interval over seeds and so no verdict.

Everything printed goes to ``--out`` as JSON too (per-seed scores, effects, INLP's fit statistics).
Runs on CPU; ``torch.set_num_threads(--threads)`` (default 1).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

METRICS = (
    "gender_log_odds/winobias/mean_log_odds",
    "gender_log_odds/templates/mean_log_odds",
    "crows_pairs/overall",
    "stereoset/overall/ss",
    "blimp/overall",
)
METHODS = ("sent-debias", "inlp", "self-debias")
#: intra-model: continued pre-training of each model with its own (hybrid) objective, plain (the control for
#: the others: it trains as much on unaltered text), on CDA text, with dropout debiasing, with BERT-ASE's loss
CPT_METHODS = ("cpt", "cpt-cda", "cpt-dropout", "cpt-ase")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sandbox", default="sandbox_results", help="a finished `babybias sandbox` output folder")
    p.add_argument("--out", default="debias_results.json", help="where to write every figure as JSON")
    p.add_argument("--work", default=None, help="folder for the model trained when --sandbox is missing "
                                                "(default: <--out's folder>/debias_fresh_model)")
    p.add_argument("--steps", type=int, default=None, help="training steps of that model (default: the recipe's 500)")
    p.add_argument("--seeds", type=int, nargs="*", default=None, help="only these baseline seeds (default: all)")
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS + CPT_METHODS)
    p.add_argument("--cpt-steps", type=int, default=150, help="continued pre-training steps (cpt-* methods)")
    p.add_argument("--cpt-lr", type=float, default=2e-3, help="continued pre-training peak lr, decayed linearly to 0")
    p.add_argument("--inlp-iterations", type=int, default=80)
    p.add_argument("--inlp-stop-at", type=float, default=None,
                   help="stop INLP once a classifier's dev accuracy is below majority + this (default: fixed iterations)")
    p.add_argument("--blimp-limit", type=int, default=100, help="BLiMP pairs per paradigm (0 = all)")
    p.add_argument("--bias-limit", type=int, default=0, help="bias benchmark items each (0 = all)")
    p.add_argument("--n-resamples", type=int, default=1999, help="bootstrap resamples of each item interval")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    return p.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------------ models


def load_baselines(sandbox: Path, seeds=None) -> dict[int, tuple]:
    """seed → (model, tokenizer) of every finished baseline cell ``cells/baseline/seed-*/train/final``."""
    from babybias.models import load_lm, load_tokenizer

    models = {}
    for final in sorted(sandbox.glob("cells/baseline/seed-*/train/final")):
        seed = int(final.parent.parent.name.removeprefix("seed-"))
        if seeds is None or seed in seeds:
            models[seed] = (load_lm(final).eval(), load_tokenizer(final))
    if not models:
        raise SystemExit(f"{sandbox}: no baseline cell with train/final (seeds {seeds or 'all'})")
    return models


def train_fresh(work: Path, corpus, steps: int | None) -> dict[int, tuple]:
    """One ``sandbox``-recipe model (seed 0) with the sandbox's tokenizer options; reused if already in ``work``."""
    from babybias.models import load_lm, load_tokenizer, train_tokenizer
    from babybias.train import get_recipe, train

    recipe = get_recipe("sandbox", seed=0, **({} if steps is None else {"steps": steps, "epochs": None}))
    final = work / "train" / "final"
    if final.is_dir():
        log(f"reusing the model trained before in {final}")
        return {0: (load_lm(final).eval(), load_tokenizer(final))}
    kind = "bpe" if recipe.model_type == "gpt-bert" else "wordpiece"
    tokenizer = train_tokenizer(corpus["text"], vocab_size=2000, kind=kind, min_frequency=2, lowercase=True)
    log(f"training one {recipe.name} model ({recipe.steps} steps) in {work / 'train'} ...")
    start = time.perf_counter()
    result = train(recipe, corpus, tokenizer, work / "train", progress=False)
    log(f"trained in {time.perf_counter() - start:.0f} s (final loss {result.final_loss:.3f})")
    return {0: (result.model.eval(), tokenizer)}


def make_debiaser(method: str, args: argparse.Namespace):
    from babybias.corpus import CDA
    from babybias.debias import INLP, SelfDebias, SentDebias
    from babybias.experiment import ContinuedPretraining
    from babybias.train import AttributeSubspaceLoss, get_recipe

    if method.startswith("cpt"):
        recipe = get_recipe("sandbox", steps=args.cpt_steps, lr=args.cpt_lr, warmup=0.0, decay="linear", min_lr_ratio=0.0,
                            save_every=args.cpt_steps)
        return ContinuedPretraining(recipe, intervention=CDA() if method == "cpt-cda" else None,
                                    dropout=method == "cpt-dropout",
                                    loss_hooks=(lambda m, t: [AttributeSubspaceLoss(m, t)]) if method == "cpt-ase" else None)
    if method == "sent-debias":
        return SentDebias(k=1)
    if method == "inlp":
        return INLP(n_iterations=args.inlp_iterations, stop_at=args.inlp_stop_at)
    return SelfDebias(bias_types=("gender",))


# -------------------------------------------------------------------------------------- evaluation


def evaluate_model(model, tokenizer, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The metrics of :data:`METRICS` and their per-item values (whose mean is the metric)."""
    from babybias.evaluate import BLiMP, CrowsPairs, StereoSet, evaluate
    from babybias.evaluate.fairness import GenderLogOdds
    from babybias.experiment import item_values

    bias = evaluate(model, tokenizer, [GenderLogOdds(), CrowsPairs(), StereoSet()], limit=args.bias_limit or None,
                    progress=False)
    blimp = evaluate(model, tokenizer, [BLiMP(name="blimp", subset="babylm_filtered")],
                     limit=args.blimp_limit or None, progress=False)
    scores = bias.scores | blimp.scores
    rows = {name: r.rows for name, r in (bias.benchmarks | blimp.benchmarks).items()}
    return {m: float(scores[m]) for m in METRICS}, {m: item_values(m, rows) for m in METRICS}


def check_against_sandbox(sandbox: Path, before: dict) -> float | None:
    """Max |before − the cell's own scores.json| over seeds and metrics: 0 when the limits are the
    sandbox's (a check that the models were loaded and scored as the sandbox did); None if unknown."""
    diffs = []
    for seed, (scores, _) in before.items():
        path = sandbox / "cells" / "baseline" / f"seed-{seed}" / "scores.json"
        if path.exists():
            stored = json.loads(path.read_text())["scores"]
            diffs += [abs(scores[m] - stored[m]) for m in METRICS if m in stored]
    return max(diffs) if diffs else None


def timed(what: str, func, *a):
    start = time.perf_counter()
    out = func(*a)
    seconds = time.perf_counter() - start
    log(f"  {what}: {seconds:.0f} s")
    return out, seconds


def run_method(method: str, models: dict, corpus, before: dict, args: argparse.Namespace) -> dict:
    """Fit and apply ``method`` to every seed's model; its scores after, effects and fit statistics."""
    after, fit_stats, seconds = {}, {}, {}
    for seed, (model, tokenizer) in models.items():
        log(f"{method}, seed {seed}")
        debiaser, t_fit = timed("fit", make_debiaser(method, args).fit, model, tokenizer, corpus)
        debiased = debiaser.apply(model)
        after[seed], t_eval = timed("evaluate", evaluate_model, debiased, tokenizer, args)
        fit_stats[seed] = getattr(debiaser, "fit_stats_", {})
        seconds[seed] = {"fit": t_fit, "evaluate": t_eval}
    return {"after": after, "fit_stats": fit_stats, "seconds": seconds,
            "effects": effects(method, before, after, args.n_resamples)}


def effects(method: str, before: dict, after: dict, n_resamples: int) -> dict:
    """metric → :class:`~babybias.experiment.Effect` of after − before (paired by seed, and over items)."""
    from babybias.experiment import estimate_effect

    out = {}
    for m in METRICS:
        b = {s: scores[m] for s, (scores, _) in before.items()}
        a = {s: scores[m] for s, (scores, _) in after.items()}
        bi = {s: items[m] for s, (_, items) in before.items() if items[m] is not None}
        ai = {s: items[m] for s, (_, items) in after.items() if items[m] is not None}
        out[m] = estimate_effect(b, a, baseline_items=bi or None, condition_items=ai or None, name=method,
                                 metric=m, reference="before", n_resamples=n_resamples)
    return out


# -------------------------------------------------------------------------------------------- tables


def _num(x: float, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "nan"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def _ci(low: float, high: float) -> str:
    return "—" if not (math.isfinite(low) and math.isfinite(high)) else f"[{_num(low, True)}, {_num(high, True)}]"


def _verdict(effect) -> str:
    if effect.distinguishable is None:
        return "no verdict (1 seed)"
    return "distinguishable" if effect.distinguishable else "not distinguishable"


def method_table(method: str, result: dict, before: dict) -> str:
    """The markdown table of one method: before, after, effect with both intervals, verdict."""
    n = len(before)
    lines = [f"### {method} (n = {n} seed{'s' * (n != 1)})", "",
             "| metric | before | after | effect | 95 % CI over seeds | 95 % CI over items (n) | verdict |",
             "|---|---:|---:|---:|---|---|---|"]
    for m in METRICS:
        e = result["effects"][m]
        b = np.mean([scores[m] for scores, _ in before.values()])
        a = np.mean([scores[m] for scores, _ in result["after"].values()])
        items = f"{_ci(e.items.low, e.items.high)} ({e.items.n})" if e.items is not None else "—"
        lines.append(f"| {m} | {_num(b)} | {_num(a)} | {_num(e.estimate, True)} | {_ci(e.seeds.low, e.seeds.high)} "
                     f"| {items} | {_verdict(e)} |")
    return "\n".join(lines)


def inlp_table(fit_stats: dict) -> str:
    """INLP's fit per seed: held-out gender-class accuracy before/after against the majority rate, rank removed."""
    lines = ["### INLP fit (held-out test split of its own sentences; 3 classes: male / female / neutral)", "",
             ("| seed | sentences (m/f/n) | iterations | rank removed | test acc. before | test acc. after "
              "| majority rate |"),
             "|---|---|---:|---:|---:|---:|---:|"]
    for seed, s in fit_stats.items():
        counts = "/".join(str(c) for c in s["class_counts"])
        lines.append(f"| {seed} | {s['n_sentences']} ({counts}) | {s['iterations']} | {s['rank_removed']} "
                     f"| {s['test_accuracy_before']:.3f} | {s['test_accuracy_after']:.3f} "
                     f"| {s['test_majority_rate']:.3f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- JSON


def to_json(args, models, before, results, seconds_before, total, check) -> dict:
    def per_seed(table: dict) -> dict:
        return {str(s): scores for s, (scores, _) in table.items()}

    out = {"command": vars(args), "seeds": sorted(models), "metrics": list(METRICS),
           "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(), "platform": platform.platform(),
                       "processor": platform.processor() or platform.machine()},
           "interval_note": "95 %; 'seeds' = t interval of the per-seed after − before differences (paired by seed; "
                            "training-seed variation of the base model), 'items' = paired bootstrap over benchmark "
                            "items of the seed-averaged item values",
           "before": per_seed(before), "before_vs_sandbox_scores_max_abs_diff": check,
           "seconds": {"evaluate_before": seconds_before, "total": total}, "methods": {}}
    for method, r in results.items():
        out["methods"][method] = {
            "after": per_seed(r["after"]),
            "effects": {m: e.to_dict() for m, e in r["effects"].items()},
            **({"effects_vs_cpt": {m: e.to_dict() for m, e in r["effects_vs_cpt"].items()}} if "effects_vs_cpt" in r else {}),
            "fit_stats": {str(s): v for s, v in r["fit_stats"].items()},
            "seconds": {str(s): v for s, v in r["seconds"].items()},
        }
    return out


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ---------------------------------------------------------------------------------------------- main


def main(argv=None) -> None:
    import datasets
    import transformers

    from babybias.experiment import shipped_corpus

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    start = time.perf_counter()
    corpus = shipped_corpus()
    sandbox = Path(args.sandbox)
    if sandbox.is_dir():
        models = load_baselines(sandbox, args.seeds)
        log(f"{len(models)} baseline model(s) from {sandbox}: seeds {sorted(models)}")
    else:
        work = Path(args.work) if args.work else Path(args.out).resolve().parent / "debias_fresh_model"
        log(f"{sandbox} does not exist: training one model instead")
        models = train_fresh(work, corpus, args.steps)
    texts = list(corpus["text"])  # the fitting corpus, read once

    before, seconds_before = {}, {}
    for seed, (model, tokenizer) in models.items():
        log(f"before, seed {seed}")
        before[seed], seconds_before[str(seed)] = timed("evaluate", evaluate_model, model, tokenizer, args)

    check = check_against_sandbox(sandbox, before) if sandbox.is_dir() else None
    if check is not None:
        log(f"before vs the sandbox's own scores.json: max |difference| {check:.2e} "
            "(0 expected at the sandbox's limits)")

    results = {m: run_method(m, models, texts, before, args) for m in args.methods}
    total = time.perf_counter() - start

    print()
    for method, r in results.items():
        print(method_table(method, r, before), end="\n\n")
        if method == "inlp":
            print(inlp_table(r["fit_stats"]), end="\n\n")
    control = results.get("cpt")
    for method in [m for m in results if m.startswith("cpt-") and control is not None]:
        results[method]["effects_vs_cpt"] = effects(f"{method} vs cpt", control["after"], results[method]["after"],
                                                    args.n_resamples)
        print(method_table(f"{method} − cpt (against plain continued pre-training)",
                           {"effects": results[method]["effects_vs_cpt"], "after": results[method]["after"]},
                           control["after"]), end="\n\n")
    print("Intervals: 95 %. Over seeds = t interval of the per-seed differences (after − before, paired by seed): "
          "training-seed variation of the base model. Over items = paired bootstrap over benchmark items of the "
          "seed-averaged item values. Verdict: both intervals exclude 0.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = to_json(args, models, before, results, seconds_before, total, check)
    out.write_text(json.dumps(payload, indent=1, default=_jsonable))
    log(f"wrote {out} ({total:.0f} s in all)")


if __name__ == "__main__":
    main()

"""Bias dynamics: train a tiny model, sweep its checkpoints, and correlate bias with ability.

    python examples/bias_dynamics.py                        # ~1.5 min on a shared 2-core CPU
    python examples/bias_dynamics.py --steps 2000 --save-every 100 --limit 100 --threads 0 --out runs/dynamics

1. trains the ``tiny`` GPT-BERT recipe on the shipped corpus, with an ``EvaluationCallback`` that
   tracks the gender log-odds during training (``metrics.jsonl``, ``callback.png``);
   every ``--save-every`` steps a checkpoint is kept (``keep_last`` is set so none is deleted);
2. sweeps every checkpoint (``babybias.analysis.sweep``) on the bias benchmarks of the ``sandbox``
   composite (CrowS-Pairs, StereoSet, WinoBias), BLiMP and ``gender_log_odds`` (``sweep.jsonl``;
   re-running evaluates nothing new), and plots the trajectories (``trajectories.png``: percent scores;
   ``trajectories_gender.png``: WinoBias gap and gender log-odds);
3. computes the composite's bias and ability per checkpoint (``--composite``, default ``sandbox``;
   the BLiMP supplement and EWoK are not shipped, so ability is BLiMP alone) and correlates them
   across checkpoints (``correlate``: coefficient, p-value, bootstrap interval over checkpoints),
   plus the gender log-odds against ability, and plots both (``correlation_*.png``).

With ``--limit`` small the per-checkpoint scores are noisy and the checkpoints of one run share one
trajectory (they are not independent samples), so read the correlation as a demonstration of the
pipeline, not a finding. Outputs go under ``--out`` (default ``bias_dynamics_out/``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from babybias.analysis import composite_table, correlate, find_checkpoints, plot_correlation, plot_trajectories_by_seed, sweep
from babybias.evaluate import BLiMP, CrowsPairs, StereoSet, WinoBias
from babybias.experiment import shipped_corpus
from babybias.models import train_tokenizer
from babybias.train import EvaluationCallback, get_recipe, plot_trajectories, train

GENDER = "gender_log_odds/templates/mean_log_odds"
PERCENT = ["crows_pairs/overall", "stereoset/overall/ss", "blimp/overall"]      # reference line at 50 %
SIGNED = ["winobias/gap", GENDER, "gender_log_odds/winobias/mean_log_odds"]     # reference line at 0


def distinguishable(r) -> str:
    """Plain words for a correlation: both the p-value and the bootstrap interval must agree."""
    if r.p_value < 0.05 and (r.low > 0 or r.high < 0):
        return "distinguishable from noise (p < 0.05 and the bootstrap interval excludes 0)"
    if r.p_value < 0.05 or r.low > 0 or r.high < 0:
        return "borderline: the p-value and the bootstrap interval disagree, so not clearly distinguishable from noise"
    return "NOT distinguishable from noise (p >= 0.05 and the bootstrap interval contains 0)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="training steps (default 300; the sandbox recipe uses 500)")
    ap.add_argument("--save-every", type=int, default=30, help="checkpoint (and callback) interval in steps")
    ap.add_argument("--limit", type=int, default=20, help="items per benchmark group in the sweep and callback "
                    "(BLiMP: pairs per paradigm; bias benchmarks: first N items)")
    ap.add_argument("--composite", default="sandbox", help="named composite (babybias.analysis.get_composite)")
    ap.add_argument("--method", default="spearman", choices=["pearson", "spearman"])
    ap.add_argument("--n-resamples", type=int, default=2000, help="bootstrap resamples for the correlation")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--out", default="bias_dynamics_out", help="output folder")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: on a 2-core machine shared "
                    "with other processes, 1 thread ran the defaults in ~1 min and torch's default in ~5; 0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    run_dir = out / "run"
    t0 = time.perf_counter()

    # 1. train, with the evaluation callback --------------------------------------------------------
    if (run_dir / "final").is_dir():
        print(f"[1] {run_dir}/final exists: training skipped (delete {out} to retrain)")
    else:
        corpus = shipped_corpus()
        tokenizer = train_tokenizer(corpus["text"], vocab_size=2000, kind="bpe", min_frequency=2)
        n_ckpt = -(-args.steps // args.save_every)
        recipe = get_recipe("tiny", steps=args.steps, save_every=args.save_every, keep_last=n_ckpt + 1, seed=args.seed)
        callback = EvaluationCallback(tokenizer, ["gender_log_odds"], run_dir / "metrics.jsonl", every=args.save_every,
                                      limit=args.limit)
        result = train(recipe, corpus, tokenizer, run_dir, callbacks=[callback], progress=False)
        print(f"[1] trained {args.steps} steps in {time.perf_counter() - t0:.0f} s, final loss {result.final_loss:.3f}")
        plot_trajectories(run_dir / "metrics.jsonl", [GENDER, "gender_log_odds/winobias/mean_log_odds"],
                          out=out / "callback.png")

    checkpoints = find_checkpoints(run_dir)
    print(f"    checkpoints: {', '.join(c.key for c in checkpoints)}")

    # 2. sweep the checkpoints --------------------------------------------------------------------
    t1 = time.perf_counter()
    benchmarks = [CrowsPairs(), StereoSet(), WinoBias(), BLiMP(name="blimp", subset="babylm_filtered"), "gender_log_odds"]
    frame = sweep({"tiny": run_dir}, benchmarks, out / "sweep.jsonl", limit=args.limit)
    frame.to_csv(out / "sweep.csv", index=False)
    plot_trajectories_by_seed(frame, PERCENT, out / "trajectories.png", reference=50.0)
    plot_trajectories_by_seed(frame, SIGNED, out / "trajectories_gender.png", reference=0.0)
    print(f"[2] swept {len(checkpoints)} checkpoints x {len(benchmarks)} benchmarks (limit={args.limit}) in "
          f"{time.perf_counter() - t1:.0f} s -> {out / 'sweep.jsonl'}, trajectories.png, trajectories_gender.png")

    # 3. composite per checkpoint, and the bias-ability correlation across checkpoints -------------
    table = composite_table(frame, [args.composite])
    wide = frame.assign(key=frame["benchmark"] + "/" + frame["metric"]).pivot_table(
        index=["step", "checkpoint"], columns="key", values="value").reset_index()
    table = table.merge(wide[["step", "checkpoint", GENDER]], on=["step", "checkpoint"])
    # ``final`` shares its step with the last checkpoint (same weights when the recipe keeps no EMA):
    # keep one point per step so no model counts twice in the correlation
    table = table.sort_values(["step", "checkpoint"]).drop_duplicates("step", keep="last").reset_index(drop=True)
    table["step"], table["tokens_seen"] = table["step"].astype(int), table["tokens_seen"].astype("Int64")
    table.to_csv(out / "composite.csv", index=False)
    show = table[["step", "tokens_seen", "checkpoint", "bias", "ability", GENDER]].rename(
        columns={GENDER: "gender log-odds", "bias": f"{args.composite} bias", "ability": f"{args.composite} ability"})
    print(f"\n[3] composite {args.composite!r} per checkpoint (bias = mean |score − 50| over {table['bias_n'].iloc[0]} "
          f"bias keys; ability over {table['ability_n'].iloc[0]} key(s); missing: {table['missing'].iloc[0] or 'none'})")
    with pd.option_context("display.width", 120, "display.float_format", "{:.3f}".format):
        print(show.to_string(index=False))

    print(f"\ncorrelation across n = {len(table)} checkpoints ({args.method}; 95 % bootstrap interval over checkpoints):")
    pairs = [("bias", f"{args.composite} composite bias (points from 50)", "correlation_bias_ability.png"),
             (GENDER, "gender log-odds, templates (log p(he) − log p(she))", "correlation_gender_ability.png")]
    rows = []
    for column, label, png in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "n < 10: the interval is wide" — said below instead
            r = correlate(table["ability"], table[column], args.method, n_resamples=args.n_resamples, seed=0)
            plot_correlation(table["ability"], table[column], out / png, labels=[str(s) for s in table["step"]],
                             method=args.method, xlabel=f"{args.composite} ability (BLiMP accuracy, %)", ylabel=label,
                             result=r)
        rows.append({"y vs ability": label, "r": r.estimate, "low": r.low, "high": r.high, "p": r.p_value, "n": r.n})
        print(f"  {label} vs ability: {r.label()}\n    -> {distinguishable(r)}")
    pd.DataFrame(rows).to_csv(out / "correlations.csv", index=False)
    if len(table) < 10:
        print(f"  (only {len(table)} checkpoints: bootstrap intervals from fewer than 10 points are wide and may undercover)")
    print("  Checkpoints of one run share one training trajectory, so a correlation across them mixes the effect of\n"
          "  training time on both scores with any link between bias and ability; compare runs or seeds for that.")
    print(f"\ndone in {time.perf_counter() - t0:.0f} s; outputs in {out}/: "
          + ", ".join(sorted(p.name for p in out.iterdir() if p.is_file())))


if __name__ == "__main__":
    main()

"""Coverage and bias of the downstream statistics' intervals, by simulation with a known truth.

    python benchmarks/bench_intervals.py [--replications 400] [--resamples 999] [--occupations 28] [--per-occupation 100]

Bias in Bios: a fixed set of occupations with known TPRs of women and men (so a known GAP_RMS and a
known Pearson r of the gaps with the share of women); every replication draws a test set, and
``bios_metrics`` gives each statistic with its interval. Reported per statistic and interval: the
mean estimate, the truth, the bias, the coverage of the truth and its Monte-Carlo standard error
``sqrt(c(1 − c)/R)``. Also: the FPED noise floor against the simulated FPED of a classifier with no
identity bias (2 terms), and t intervals over 3 seeds of an AUC near 1, with and without clipping.
``tests/downstream/test_interval_coverage.py`` runs a small version of each in seconds.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd

from babybias.analysis.stats import mean_interval
from babybias.downstream.bias_in_bios import bios_metrics, fisher_interval
from babybias.downstream.toxicity import fped_fned, noise_floor


def bios_design(k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """k occupations: shares of women 0.1 … 0.9, TPR of men in [0.55, 0.9], gap = 0.3·(share − 0.5) + N(0, 0.05²)."""
    rng = np.random.default_rng(seed)
    share = np.linspace(0.1, 0.9, k)
    tpr_m = rng.uniform(0.55, 0.9, k)
    tpr_f = np.clip(tpr_m + 0.3 * (share - 0.5) + rng.normal(0, 0.05, k), 0.05, 0.98)
    return {"share": share, "tpr_female": tpr_f, "tpr_male": tpr_m}


def bios_truth(design: dict[str, np.ndarray]) -> dict[str, float]:
    gap = design["tpr_female"] - design["tpr_male"]
    return {"gap_rms": float(np.sqrt(np.mean(gap ** 2))), "gap_share_pearson": float(np.corrcoef(gap, design["share"])[0, 1])}


def bios_sample(rng: np.random.Generator, design: dict[str, np.ndarray], per_occupation: int):
    """One test set: ``per_occupation`` bios per occupation split by its share of women (≥ 2 of each)."""
    labels, gender, correct = [], [], []
    for y, s in enumerate(design["share"]):
        n_f = max(2, int(round(s * per_occupation)))
        n_m = max(2, per_occupation - n_f)
        for g, n, p in (("female", n_f, design["tpr_female"][y]), ("male", n_m, design["tpr_male"][y])):
            labels += [y] * n
            gender += [g] * n
            correct.append(rng.random(n) < p)
    labels, correct = np.array(labels), np.concatenate(correct)
    preds = np.where(correct, labels, (labels + 1) % design["share"].size)
    return labels, preds, np.array(gender)


def _row(statistic: str, interval: str, est: np.ndarray, low: np.ndarray, high: np.ndarray, truth: float) -> dict:
    cover = float(np.mean((low <= truth) & (truth <= high)))
    return {"statistic": statistic, "interval": interval, "mean_estimate": float(np.mean(est)), "truth": truth,
            "bias": float(np.mean(est) - truth), "coverage": cover, "mc_se": float(np.sqrt(cover * (1 - cover) / est.size)),
            "replications": int(est.size)}


def bios_coverage(replications: int, resamples: int, k: int = 28, per_occupation: int = 100, seed: int = 0) -> pd.DataFrame:
    """Coverage of GAP_RMS (plain: percentile and BCa; corrected: recentred) and Pearson r (percentile, BCa, Fisher z)."""
    design = bios_design(k, seed)
    truth = bios_truth(design)
    share = dict(enumerate(design["share"]))
    rng = np.random.default_rng(seed + 1)
    got = {key: [] for key in ("pct", "bca")}
    fisher = []
    for r in range(replications):
        labels, preds, gender = bios_sample(rng, design, per_occupation)
        for key, method in (("pct", "percentile"), ("bca", "BCa")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est, _ = bios_metrics(labels, preds, gender, share_female=share, n_resamples=resamples, seed=r,
                                      variant="keep_zero", method=method, pearson_interval="bootstrap")
            got[key].append([(est[m].estimate, est[m].low, est[m].high)
                             for m in ("gap_rms", "gap_rms_corrected", "gap_share_pearson")])
        fisher.append(fisher_interval(est["gap_share_pearson"].estimate, k))
    pct, bca, fisher = np.array(got["pct"]), np.array(got["bca"]), np.array(fisher)
    rows = [_row("gap_rms (plain)", "percentile (before)", *pct[:, 0].T, truth["gap_rms"]),
            _row("gap_rms (plain)", "BCa", *bca[:, 0].T, truth["gap_rms"]),
            _row("gap_rms_corrected", "percentile, recentred", *bca[:, 1].T, truth["gap_rms"]),
            _row("gap_share_pearson", "percentile (before)", *pct[:, 2].T, truth["gap_share_pearson"]),
            _row("gap_share_pearson", "BCa", *bca[:, 2].T, truth["gap_share_pearson"]),
            _row("gap_share_pearson", "Fisher z over occupations", bca[:, 2, 0], fisher[:, 0], fisher[:, 1],
                 truth["gap_share_pearson"])]
    return pd.DataFrame(rows)


def fped_floor(replications: int, n_negative: int = 600, term_sizes: tuple[int, ...] = (200, 200), rate: float = 0.2,
               seed: int = 0) -> pd.DataFrame:
    """Mean FPED of a classifier with no identity bias (every negative a false positive with probability
    ``rate``), 2 disjoint terms, against the noise floor with and without the own-items factor."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n_negative, len(term_sizes)), dtype=bool)
    start = 0
    for t, size in enumerate(term_sizes):
        masks[start:start + size, t] = True
        start += size
    labels = np.zeros(n_negative, dtype=int)
    fped, floors_old, floors_new = [], [], []
    for _ in range(replications):
        pred = (rng.random(n_negative) < rate).astype(float)
        fped.append(fped_fned(pred, labels, masks, 0.5)[0])
        r_hat = pred.mean()
        floors_old.append(noise_floor(r_hat, term_sizes))
        floors_new.append(noise_floor(r_hat, term_sizes, n_negative))
    fped = np.array(fped)
    se = float(fped.std(ddof=1) / np.sqrt(replications))
    return pd.DataFrame([{"floor": name, "mean_floor": float(np.mean(f)), "mean_fped": float(fped.mean()), "mc_se": se,
                          "floor_over_fped": float(np.mean(f) / fped.mean()), "replications": replications}
                         for name, f in (("without 1 − n_t/N (before)", floors_old), ("with 1 − n_t/N", floors_new))])


def seed_intervals(replications: int, seeds: int = 3, mean: float = 0.97, sd: float = 0.03, seed: int = 0) -> pd.DataFrame:
    """t intervals over ``seeds`` per-seed AUCs (normal around ``mean``, clipped into [0, 1]): coverage of the
    mean and the share of intervals reaching outside [0, 1], plain and clipped."""
    rng = np.random.default_rng(seed)
    truth_draws = np.clip(rng.normal(mean, sd, 1_000_000), 0, 1)
    truth = float(truth_draws.mean())
    rows = []
    for name, bounds in (("t (before)", None), ("t, clipped to [0, 1]", (0.0, 1.0))):
        r2 = np.random.default_rng(seed + 1)
        ivs = [mean_interval(np.clip(r2.normal(mean, sd, seeds), 0, 1), 0.95, bounds) for _ in range(replications)]
        est, low, high = (np.array([getattr(iv, a) for iv in ivs]) for a in ("estimate", "low", "high"))
        row = _row(f"AUC over {seeds} seeds", name, est, low, high, truth)
        row["outside_range"] = float(np.mean((low < 0) | (high > 1)))
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=400)
    ap.add_argument("--resamples", type=int, default=999)
    ap.add_argument("--occupations", type=int, default=28)
    ap.add_argument("--per-occupation", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}")
    pd.set_option("display.width", 200)
    t0 = time.time()
    print(bios_coverage(args.replications, args.resamples, args.occupations, args.per_occupation, args.seed)
          .to_string(index=False, float_format="%.4f"))
    print(f"[bios: {time.time() - t0:.0f} s]")
    t1 = time.time()
    print(fped_floor(max(args.replications, 2000), seed=args.seed).to_string(index=False, float_format="%.4f"))
    print(seed_intervals(max(args.replications, 2000), seed=args.seed).to_string(index=False, float_format="%.4f"))
    print(f"[floor and seeds: {time.time() - t1:.0f} s; total {time.time() - t0:.0f} s]")


if __name__ == "__main__":
    main()

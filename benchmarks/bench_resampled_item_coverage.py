"""Coverage of the resampled item interval (``babybias.analysis.resampled_item_effect``) under a null (issue 21).

Each simulated grid has n items with their own difficulty, 2 seeds of a baseline and 2 of a condition; every cell's
per-item value is difficulty + noise, with no condition effect, so the population effect of any statistic is 0.
We count how often the 95 % interval covers 0, for the mean (an item mean) and the median (re-aggregated).

    python benchmarks/bench_resampled_item_coverage.py [--grids 400] [--items 40] [--resamples 199]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from babybias.analysis import ItemRows, resampled_item_effect


def coverage(statistic: str, grids: int, items: int, resamples: int, seed: int = 0) -> tuple[float, float]:
    """Share of null grids whose interval covers 0, and its binomial standard error."""
    rng = np.random.default_rng(seed)
    func = {"mean": np.mean, "median": np.median}[statistic]
    hits = 0
    for g in range(grids):
        difficulty = rng.normal(size=items)
        cells = [pd.DataFrame({"v": difficulty + rng.normal(size=items)}) for _ in range(4)]
        agg = lambda rows: {"s": float(func(rows["v"].to_numpy()))}  # noqa: E731
        base = [ItemRows(c, agg, "s") for c in cells[:2]]
        cond = [ItemRows(c, agg, "s") for c in cells[2:]]
        iv = resampled_item_effect(base, cond, n_resamples=resamples, seed=g)
        hits += iv.low <= 0.0 <= iv.high
    share = hits / grids
    return share, float(np.sqrt(share * (1 - share) / grids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=400)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--resamples", type=int, default=199)
    args = parser.parse_args()
    for statistic in ("mean", "median"):
        start = time.perf_counter()
        share, se = coverage(statistic, args.grids, args.items, args.resamples)
        print(f"{statistic}: coverage of 0 by the 95% interval {share:.3f} ± {se:.3f} (n = {args.grids} null grids, "
              f"{args.items} items, {args.resamples} resamples; {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

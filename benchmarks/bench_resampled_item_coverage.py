"""Coverage of the resampled item interval (``babybias.analysis.resampled_item_effect``) under a null (issue 21).

Each simulated grid has n items with their own difficulty, 2 seeds of a baseline and 2 of a condition; every cell's
per-item value is difficulty + noise, with no condition effect, so the population effect of any statistic is 0.
We count how often the 95 % interval covers 0, for the mean (an item mean) and the median (re-aggregated).

SEAT (issue 22): each grid has one test of four sets (``--items`` sentences each) whose sentence encodings are a
sentence vector (shared by every cell) + cell noise, in 16 dimensions; A and B differ along one direction, X and Y
do not, so the population effect size is 0 in every cell and the population difference between cells is 0. We
count how often the 95 % interval covers 0: the single-model interval (``resampled_item_interval``) and the paired
one (``resampled_item_effect``), both resampling sentences within each set through ``SEAT.resampler``.

    python benchmarks/bench_resampled_item_coverage.py [--grids 400] [--items 40] [--resamples 199] [--only seat]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from babybias.analysis import ItemRows, resampled_item_effect, resampled_item_interval
from babybias.evaluate import SEAT
from babybias.evaluate.seat import SEAT_SETS, s_values, weat_p_value


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


def _seat_rows(sentences: dict[str, np.ndarray], rng: np.random.Generator, noise: float) -> pd.DataFrame:
    """One cell's SEAT rows: every sentence vector plus this cell's noise, normalised, packed as SEAT packs them."""
    import base64

    frames, vectors = [], {}
    for key in SEAT_SETS:
        enc = sentences[key] + noise * rng.normal(size=sentences[key].shape)
        enc = (enc / np.linalg.norm(enc, axis=1, keepdims=True)).astype(np.float32)
        vectors[key] = enc
        frames.append(pd.DataFrame({"test": "null", "bias_type": "", "set": key, "category": key,
                                    "sentence": [f"{key}{i}" for i in range(len(enc))],
                                    "encoding": [base64.b64encode(e.astype("<f4").tobytes()).decode() for e in enc]}))
    rows = pd.concat(frames, ignore_index=True)
    return rows.assign(p_value=weat_p_value(s_values(*vectors.values()), len(vectors["targ1"]), n_samples=2))


def seat_coverage(grids: int, items: int, resamples: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Coverage of 0 by the single-model and the paired SEAT effect-size intervals under the null above."""
    rng = np.random.default_rng(seed)
    bench, key = SEAT(source=".", tests="null"), "null/effect_size"
    hits = {"single": 0, "paired": 0}
    direction = np.eye(16)[0]
    for g in range(grids):
        sentences = {k: rng.normal(size=(items, 16)) for k in SEAT_SETS}
        sentences["attr1"] += 1.5 * direction
        sentences["attr2"] -= 1.5 * direction
        cells = []
        for _ in range(4):
            rows = _seat_rows(sentences, rng, noise=0.5)
            cells.append(ItemRows(rows, bench.aggregate, key, strata=bench.item_strata(rows),
                                  resampler=bench.resampler(rows)))
        single = resampled_item_interval(cells[0], n_resamples=resamples, seed=g)
        paired = resampled_item_effect(cells[:2], cells[2:], n_resamples=resamples, seed=g)
        hits["single"] += single.low <= 0.0 <= single.high
        hits["paired"] += paired.low <= 0.0 <= paired.high
    return {k: (h / grids, float(np.sqrt(h / grids * (1 - h / grids) / grids))) for k, h in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=400)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--resamples", type=int, default=199)
    parser.add_argument("--only", choices=["items", "seat"], default=None)
    args = parser.parse_args()
    if args.only != "items":
        start = time.perf_counter()
        for which, (share, se) in seat_coverage(args.grids, args.items, args.resamples).items():
            print(f"SEAT effect size, {which}: coverage of 0 by the 95% interval {share:.3f} ± {se:.3f} (n = "
                  f"{args.grids} null grids, {args.items} sentences per set, {args.resamples} resamples; "
                  f"{time.perf_counter() - start:.0f} s)", flush=True)
    if args.only == "seat":
        return
    for statistic in ("mean", "median"):
        start = time.perf_counter()
        share, se = coverage(statistic, args.grids, args.items, args.resamples)
        print(f"{statistic}: coverage of 0 by the 95% interval {share:.3f} ± {se:.3f} (n = {args.grids} null grids, "
              f"{args.items} items, {args.resamples} resamples; {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

"""Effects of a condition against the baseline, paired by seed and by benchmark item.

One *cell* is one (condition, seed): a model trained on that condition's corpus with that seed.
For a metric (a flat score key such as ``gender_log_odds/winobias/mean_log_odds``) and a condition
``c``, the effect is ``score(c) − score(baseline)``; two intervals describe its noise:

* **over seeds** — the per-seed differences ``d_s = score(c, s) − score(baseline, s)`` (the baseline
  and the condition share seed ``s``: the same initialisation and random streams; the batches
  differ, since the corpora do), mean with a
  t interval (``babybias.analysis.mean_interval``) and a one-sample t-test p
  (``scipy.stats.ttest_1samp``), n = seeds. This is "would another training run agree?".
* **over items** — each item's value averaged over the seeds, condition vs baseline on the same
  items, with a paired bootstrap interval and sign-flip permutation p
  (``babybias.analysis.paired_bootstrap``), n = items. This is "would other test items agree?".
  Only metrics that are a (weighted) mean of per-item values have one (:func:`item_values`); for
  the others (composites) it is absent, and said so.

A difference is called **distinguishable from noise** when it has at least two seeds, its seed
interval excludes 0 and its item interval (where the metric has one) excludes 0 too. With one seed
no verdict is given: seed-to-seed noise is then unmeasured.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..analysis.stats import Interval, PairedDifference, mean_interval, paired_bootstrap

__all__ = ["Effect", "estimate_effect", "effects_frame", "item_values", "ITEM_METRICS", "seed_mean", "verdict_line"]

LEVEL = 0.95


# ------------------------------------------------------------------------------------ item values
#
# Each function takes a benchmark's per-item frame (``BenchmarkResult.rows``) and the parts of the
# metric key after the benchmark name, and returns one value per item whose (plain) mean is the
# metric exactly — macro averages get per-item weights N / (G · n_g) — or None when the key is not
# one it knows. tests/experiment/test_effects.py checks the equality on real evaluations.


def _macro(values: np.ndarray, groups: pd.Series) -> np.ndarray:
    """Per-item ``values`` reweighted so that their plain mean is the mean of the per-group means."""
    counts = groups.map(groups.value_counts()).to_numpy(dtype=float)
    return values * len(values) / (groups.nunique() * counts)


def _gender_log_odds(rows: pd.DataFrame, key: str) -> np.ndarray | None:
    m = re.fullmatch(r"(winobias|templates)/(?:(male|female)_occupations/)?(mean_log_odds|male_share)", key)
    if m is None:
        return None
    part = rows[rows["source"] == m.group(1)]
    if m.group(2):
        part = part[part["occupation_stereotype"] == m.group(2)]
    lo = part["log_odds"].to_numpy(dtype=float)
    return lo if m.group(3) == "mean_log_odds" else 100.0 * (lo > 0)


def _crows_pairs(rows: pd.DataFrame, key: str) -> np.ndarray | None:
    used = rows[~rows["skipped"].astype(bool)]
    if key != "overall":
        if key not in set(used["bias_type"].astype(str)):
            return None
        used = used[used["bias_type"].astype(str) == key]
    return 100.0 * used["more_preferred"].to_numpy(dtype=float)


def _stereoset(rows: pd.DataFrame, key: str) -> np.ndarray | None:
    m = re.fullmatch(r"(overall|gender|profession|race|religion)/(ss|lms)", key)
    if m is None:
        return None
    part = rows if m.group(1) == "overall" else rows[rows["bias_type"] == m.group(1)]
    if "task" in part.columns:
        part = part[part["task"] == "intrasentence"]
    if part.empty:
        return None
    s, a, u = (part[f"score_{c}"].to_numpy(dtype=float) for c in ("stereotype", "anti-stereotype", "unrelated"))
    raw = 100.0 * (s > a) if m.group(2) == "ss" else 50.0 * ((s > u).astype(float) + (a > u))
    return _macro(raw, part["target"].reset_index(drop=True))


def _winobias(rows: pd.DataFrame, key: str) -> np.ndarray | None:
    m = re.fullmatch(r"(?:(type1|type2)/)?(pro|anti|gap|accuracy|bias)", key)
    if m is None:
        return None
    part = rows if m.group(1) is None else rows[rows["type"] == m.group(1)]
    what = m.group(2)
    if what in ("pro", "anti"):
        return 100.0 * part.loc[part["stereotype"] == what, "correct"].to_numpy(dtype=float)
    if what == "accuracy":
        return 100.0 * part["correct"].to_numpy(dtype=float)
    # gap = pro − anti accuracy: one value per pro/anti twin pair (same split, type and line)
    keys = ["split", "type", "line"]
    wide = part.pivot_table(index=keys, columns="stereotype", values="correct", aggfunc="first")
    if wide[["pro", "anti"]].isna().any().any():
        return None  # unpaired sentences: the gap is not a mean over pairs
    gap = 100.0 * (wide["pro"].to_numpy(dtype=float) - wide["anti"].to_numpy(dtype=float))
    return gap if what == "gap" else 50.0 + gap / 2.0


def _macro_accuracy(group: str) -> Callable[[pd.DataFrame, str], np.ndarray | None]:
    """Minimal-pair benchmarks: ``micro`` = plain accuracy, ``overall`` = macro mean over ``group``
    (BLiMP: paradigms ``UID``; the supplement: ``task``; EWoK: ``domain``)."""

    def values(rows: pd.DataFrame, key: str) -> np.ndarray | None:
        correct = 100.0 * rows["correct"].to_numpy(dtype=float)
        if key == "micro":
            return correct
        if key == "overall" and group in rows.columns:
            return _macro(correct, rows[group].reset_index(drop=True))
        return None

    return values


#: benchmark name → item-value function (see above). Register your own benchmark's here.
ITEM_METRICS: dict[str, Callable[[pd.DataFrame, str], np.ndarray | None]] = {
    "gender_log_odds": _gender_log_odds, "crows_pairs": _crows_pairs, "stereoset": _stereoset,
    "winobias": _winobias, "blimp": _macro_accuracy("UID"), "blimp_supplement": _macro_accuracy("task"),
    "ewok": _macro_accuracy("domain"),
}


def item_values(metric: str, rows: Mapping[str, pd.DataFrame]) -> np.ndarray | None:
    """Per-item values of ``metric`` (``"<benchmark>/<key>"``) whose mean is the metric, or None.

    ``rows`` maps benchmark names to their per-item frames. ``blimp_supplement`` and ``ewok`` use
    BLiMP's rule only where their frames have a ``UID`` column (else only ``micro``).
    """
    bench, _, key = metric.partition("/")
    func = ITEM_METRICS.get(bench)
    frame = rows.get(bench)
    if func is None or frame is None or frame.empty or not key:
        return None
    try:
        return func(frame.reset_index(drop=True), key)
    except KeyError:  # a frame without the columns this rule reads (another benchmark of that name)
        return None


# ------------------------------------------------------------------------------------------ effect


@dataclass(frozen=True)
class Effect:
    """``metric(condition) − metric(reference)`` with its interval over seeds and, where defined, over items."""

    condition: str
    metric: str
    estimate: float
    seeds: Interval                      # t interval of the per-seed differences (NaN with one seed)
    p_seeds: float                       # one-sample t-test of the per-seed differences
    items: PairedDifference | None       # paired bootstrap over items of the seed-averaged values
    per_seed: dict[int, float]           # seed -> difference
    distinguishable: bool | None         # None: one seed, no verdict
    reference: str = "baseline"          # what the condition is compared with (the baseline, or the control)

    @property
    def label(self) -> str:
        """``cda`` against the baseline, ``cda − duplication`` against another reference."""
        return self.condition if self.reference == "baseline" else f"{self.condition} − {self.reference}"

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)

    def to_dict(self) -> dict:
        """One flat row: estimate, seed interval and p, item interval and p (NaN where absent), verdict."""
        it = self.items
        return {"condition": self.condition, "reference": self.reference, "metric": self.metric, "estimate": self.estimate,
                "seeds_low": self.seeds.low, "seeds_high": self.seeds.high, "n_seeds": self.n_seeds,
                "p_seeds": self.p_seeds,
                "items_low": it.low if it else math.nan, "items_high": it.high if it else math.nan,
                "n_items": it.n if it else 0, "p_items": it.p_value if it else math.nan,
                "items_method": it.method if it else "", "distinguishable": self.distinguishable,
                "per_seed": {str(k): v for k, v in self.per_seed.items()}}


def _excludes_zero(low: float, high: float) -> bool:
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


def _t_test_p(d: np.ndarray) -> float:
    if d.size < 2:
        return math.nan
    if np.ptp(d) <= 1e-12 * max(1.0, float(np.abs(d).max())):  # no spread: the t statistic is undefined
        return 1.0 if d[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def estimate_effect(baseline: Mapping[int, float], condition: Mapping[int, float], *,
                    baseline_items: Mapping[int, np.ndarray] | None = None,
                    condition_items: Mapping[int, np.ndarray] | None = None,
                    name: str = "condition", metric: str = "metric", reference: str = "baseline",
                    level: float = LEVEL, n_resamples: int = 1999, seed: int = 0) -> Effect:
    """The effect of ``condition`` over ``baseline`` (or another ``reference``: the control) on one metric.

    ``baseline`` / ``condition`` map training seeds to the metric's value; only seeds present in both
    are used (paired by seed). ``*_items`` map seeds to per-item values (the same items, in the same
    order, in every cell) for the interval over items; ``seed`` seeds the bootstrap.
    """
    shared = sorted(set(baseline) & set(condition))
    if not shared:
        raise ValueError(f"{name} vs {reference} on {metric}: no seed has both cells "
                         f"({reference} seeds {sorted(baseline)}, {name} seeds {sorted(condition)})")
    d = np.array([condition[s] - baseline[s] for s in shared], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one seed: NaN interval, said in the verdict instead
        seeds_iv = mean_interval(d, level)
    p_seeds = _t_test_p(d)
    items = None
    if baseline_items is not None and condition_items is not None and all(
            s in baseline_items and s in condition_items for s in shared):
        a = np.mean([np.asarray(baseline_items[s], dtype=float) for s in shared], axis=0)
        b = np.mean([np.asarray(condition_items[s], dtype=float) for s in shared], axis=0)
        if a.shape != b.shape:
            raise ValueError(f"{name} vs {reference} on {metric}: {b.size} items against {a.size}; "
                             "the cells were evaluated on different items (another limit or benchmark version?)")
        if a.size >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                items = paired_bootstrap(a, b, n_resamples=n_resamples, level=level, seed=seed)
    if len(shared) < 2:
        verdict = None
    else:
        verdict = _excludes_zero(seeds_iv.low, seeds_iv.high) and (items is None or _excludes_zero(items.low, items.high))
    return Effect(name, metric, float(d.mean()), seeds_iv, p_seeds, items,
                  {int(s): float(v) for s, v in zip(shared, d)}, verdict, reference)


def seed_mean(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean over seeds with its t interval (NaN interval for one seed, without a warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mean_interval(values, level)


def _fmt(x: float, digits: int = 2) -> str:
    return "nan" if not np.isfinite(x) else f"{x:+.{digits}f}"


def verdict_line(effect: Effect, primary: bool = False, digits: int = 2) -> str:
    """The effect in plain words: estimate, both intervals, and whether it is distinguishable from noise."""
    e, iv = effect, effect.seeds
    tag = "PRIMARY " if primary else ""
    head = f"{tag}{e.condition} − {e.reference}, {e.metric}: {_fmt(e.estimate, digits)}"
    if e.n_seeds >= 2:
        head += f", 95% CI over {e.n_seeds} seeds [{_fmt(iv.low, digits)}, {_fmt(iv.high, digits)}] (t-test p = {e.p_seeds:.3g})"
    if e.items is not None:
        head += (f", over {e.items.n} items [{_fmt(e.items.low, digits)}, {_fmt(e.items.high, digits)}] "
                 f"(permutation p = {e.items.p_value:.3g})")
    elif e.n_seeds >= 2:
        head += ", no per-item interval for this metric"
    if e.distinguishable is None:
        tail = "one seed only: seed-to-seed noise is unmeasured, so no verdict (run --seeds 3 or more)"
    elif e.distinguishable:
        tail = "distinguishable from noise"
    else:
        tail = "NOT distinguishable from noise"
    return f"{head} — {tail}."


def effects_frame(effects: Sequence[Effect]) -> pd.DataFrame:
    """One row per effect (:meth:`Effect.to_dict`, without the per-seed dict)."""
    rows = [{k: v for k, v in e.to_dict().items() if k != "per_seed"} for e in effects]
    return pd.DataFrame(rows)

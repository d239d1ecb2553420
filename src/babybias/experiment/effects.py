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

import re
import warnings
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis.grid import effects_frame, verdict_line
from ..analysis.stats import LEVEL, Effect, Interval, estimate_effect, mean_interval

__all__ = ["Effect", "estimate_effect", "effects_frame", "item_values", "ITEM_METRICS", "seed_mean", "verdict_line"]


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
# The effect, its intervals and its verdict live in babybias.analysis (one statistics vocabulary for every grid).


def seed_mean(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Deprecated: ``babybias.analysis.mean_interval`` (the grids tabulate with ``aggregate_seeds``)."""
    warnings.warn("babybias.experiment.effects.seed_mean is deprecated; use babybias.analysis.mean_interval",
                  DeprecationWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mean_interval(values, level)

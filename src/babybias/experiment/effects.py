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
  Each benchmark says which of its scores are a (weighted) mean of per-item values
  (``Benchmark.item_values``, read by :func:`babybias.evaluate.item_values`); a score that is another
  function of the items (ICAT, a JSD) is resampled through the benchmark's ``aggregate``; composites
  have none, and that is said.

A difference is called **distinguishable from noise** when it has at least two seeds, its seed
interval excludes 0 and its item interval (where the metric has one) excludes 0 too. With one seed
no verdict is given: seed-to-seed noise is then unmeasured.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..analysis.grid import effects_frame, verdict_line
from ..analysis.stats import (LEVEL, Effect, Interval, ItemRows, bootstrap_ci, estimate_effect, mean_interval,
                              resampled_item_interval)
from ..evaluate.registry import REGISTRY, Benchmark, benchmark_for, item_values
from ..evaluate.results import EvaluationResult

__all__ = ["Effect", "estimate_effect", "effects_frame", "item_data", "item_intervals", "item_values", "seed_mean",
           "verdict_line"]


# ------------------------------------------------------------------------------------ item values
# Each benchmark says which of its scores are item means and gives their per-item values
# (``Benchmark.item_values``, beside the benchmark); ``babybias.evaluate.item_values`` asks it.


def _item_metrics() -> dict[str, Callable[[pd.DataFrame, str], np.ndarray | None]]:
    """The old ``ITEM_METRICS`` table, read from the registered benchmarks."""
    return {name: REGISTRY.get(name).item_values for name in REGISTRY.names()}


def __getattr__(name: str):
    if name == "ITEM_METRICS":
        warnings.warn("babybias.experiment.effects.ITEM_METRICS is deprecated: each benchmark gives its per-item values "
                      "(Benchmark.item_values; babybias.evaluate.item_values)", DeprecationWarning, stacklevel=2)
        return _item_metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def item_data(evaluation: EvaluationResult, metrics: Sequence[str]) -> dict[str, np.ndarray | ItemRows]:
    """metric → what its item interval is computed from, for one cell's evaluation: the per-item values whose
    mean is the metric (:func:`item_values`), else the benchmark's rows and aggregation (:class:`ItemRows`, for a
    score that is another function of the items). Counts, p-values, composites and unregistered benchmarks: none."""
    found: dict[str, np.ndarray | ItemRows] = {}
    caches: dict[str, dict] = {}
    benches: dict[str, tuple] = {}  # name → (benchmark, its rows): built once per benchmark, not per metric
    for metric in metrics:
        name, _, key = metric.partition("/")
        result = evaluation.benchmarks.get(name)
        if result is None or not key:
            continue
        if name not in benches:
            benches[name] = (benchmark_for(name, result.config), result.rows.reset_index(drop=True), {})
        bench, rows, prepared = benches[name]
        if bench is None or rows.empty:
            continue
        try:
            values = bench.item_values(rows, key)
        except KeyError:  # a frame without the columns its rule reads
            continue
        if values is not None:
            if len(values):
                found[metric] = values
        elif key in result.scores and not bench.fixed_keys([key]) and type(bench).aggregate is not Benchmark.aggregate:
            if not prepared:  # once per benchmark: its strata and its (maybe prepared) resampled aggregation
                prepared.update(strata=bench.item_strata(rows), resampler=bench.resampler(rows))
            found[metric] = ItemRows(rows, bench.aggregate, key, caches.setdefault(name, {}), **prepared)
    return found


def item_intervals(evaluation: EvaluationResult, metrics: Sequence[str] | None = None, *, n_resamples: int = 1999,
                   level: float = LEVEL, seed: int = 0) -> pd.DataFrame:
    """One model's scores with their intervals over items, a row per metric (all with an item route when
    ``metrics`` is None): an item mean gets a BCa bootstrap of its item values, another score (a SEAT effect
    size, a perplexity) a percentile bootstrap re-aggregating resampled items (within strata where it has them)."""
    metrics = list(evaluation.scores) if metrics is None else list(metrics)
    unknown = [m for m in metrics if m not in evaluation.scores]
    if unknown:
        raise ValueError(f"no score {unknown[0]!r} in this evaluation (it has {len(evaluation.scores)} scores)")
    rows = []
    for metric, data in item_data(evaluation, metrics).items():
        if isinstance(data, ItemRows):
            interval = resampled_item_interval(data, n_resamples=n_resamples, level=level, seed=seed)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # small-n warnings: n is in the table
                interval = bootstrap_ci(data, n_resamples=n_resamples, level=level, seed=seed)
        rows.append({"metric": metric, "score": evaluation.scores[metric], **interval.to_dict()})
    return pd.DataFrame(rows, columns=["metric", "score", "estimate", "low", "high", "level", "n", "method",
                                       "p_value", "p_method", "resamples"])


# ------------------------------------------------------------------------------------------ effect
# The effect, its intervals and its verdict live in babybias.analysis (one statistics vocabulary for every grid).


def seed_mean(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Deprecated: ``babybias.analysis.mean_interval`` (the grids tabulate with ``aggregate_seeds``)."""
    warnings.warn("babybias.experiment.effects.seed_mean is deprecated; use babybias.analysis.mean_interval",
                  DeprecationWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mean_interval(values, level)

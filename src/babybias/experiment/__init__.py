"""The sandbox: an intervention, its matched control and the baseline, × seeds, with effects and intervals.

>>> from babybias.experiment import SandboxConfig, get_experiment
>>> exp = get_experiment("cda")
>>> exp.conditions, exp.primary_metric
(('baseline', 'cda', 'duplication'), 'gender_log_odds/winobias/mean_log_odds')
>>> SandboxConfig(seeds=3).seeds
(0, 1, 2)

``run(SandboxConfig(...))`` trains and evaluates every (condition, seed) cell in its own folder and
returns a :class:`SandboxResult`; :func:`collect` rebuilds it from the cell folders alone. See
docs/experiment.md.
"""

from .conditions import (AXIS_METRICS, GENERAL_METRICS, PRESETS, Experiment, SandboxError, get_experiment, load_object,
                         matched_control)
from .debiasing import DEFAULT_METRICS, ContinuedPretraining, DebiasingComparison, compare_debiasing
from .effects import Effect, effects_frame, estimate_effect, item_data, item_intervals, item_values, verdict_line
from .plots import plot_effects
from .sandbox import (DEFAULT_SEEDS, Cell, SandboxConfig, SandboxResult, cells, collect, evaluate_cell_model, run,
                      run_cell, sandbox_grid, sandbox_recipe, shipped_corpus, summarize)

__all__ = [
    "AXIS_METRICS", "GENERAL_METRICS", "PRESETS", "Experiment", "SandboxError", "get_experiment", "load_object", "matched_control",
    "DEFAULT_METRICS", "ContinuedPretraining", "DebiasingComparison", "compare_debiasing",
    "Effect", "effects_frame", "estimate_effect", "item_data", "item_intervals", "item_values", "verdict_line", "plot_effects",
    "DEFAULT_SEEDS", "Cell", "SandboxConfig", "SandboxResult", "cells", "collect", "evaluate_cell_model", "run",
    "run_cell", "sandbox_grid", "sandbox_recipe", "shipped_corpus", "summarize",
]


def __getattr__(name: str):
    if name == "ITEM_METRICS":  # deprecated (each benchmark gives its per-item values); warns from effects
        from . import effects

        return effects.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

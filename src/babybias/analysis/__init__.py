"""Analysis of bias and ability results, each statistic with its uncertainty.

Statistics (paired bootstrap over items, seed aggregation), correlations with bootstrap
intervals, CCA alignment between model families with a permutation test, checkpoint sweeps and
named composites. Definitions and sources: docs/analysis.md.

>>> import numpy as np
>>> from babybias.analysis import correlate
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=30)
>>> r = correlate(x, 2 * x + rng.normal(size=30), method="pearson", seed=0)
>>> bool(r.p_value < 0.05 and r.low > 0)
True
"""

from .cca import CCAResult, CCASampleSizeWarning, canonical_correlations, cca_alignment, plot_cca, responses
from .composites import (COMPOSITES, SANDBOX, SEED_PAPER, SEED_PAPER_DOMAINS, Composite, CompositeResult, composite_table,
                         get_composite, register_composite, winobias_as_bias)
from .correlation import Correlation, correlate, plot_correlation
from .grid import Grid, GridCollection, GridError, collect_grid, parse_seeds, plot_effects, read_records
from .stats import (LEVEL, Effect, Interval, ItemRows, PairedDifference, aggregate_seeds, bootstrap_ci, estimate_effect,
                    mean_interval, no_spread, paired_bootstrap, resampled_item_effect,
                    resampled_item_interval, seed_effect, weighted_bootstrap)
from .sweeps import (COLUMNS, Checkpoint, find_checkpoints, load_checkpoint_model, plot_trajectories_by_seed, read_results,
                    seed_bands, sweep, tokens_seen)

__all__ = [
    "CCAResult", "CCASampleSizeWarning", "canonical_correlations", "cca_alignment", "plot_cca", "responses",
    "COMPOSITES", "SANDBOX", "SEED_PAPER", "SEED_PAPER_DOMAINS", "Composite", "CompositeResult", "composite_table",
    "get_composite", "register_composite", "winobias_as_bias",
    "Correlation", "correlate", "plot_correlation",
    "Grid", "GridCollection", "GridError", "collect_grid", "parse_seeds", "plot_effects", "read_records",
    "LEVEL", "Effect", "Interval", "ItemRows", "PairedDifference", "aggregate_seeds", "bootstrap_ci", "estimate_effect",
    "mean_interval", "no_spread", "paired_bootstrap", "resampled_item_effect", "resampled_item_interval", "seed_effect",
    "weighted_bootstrap",
    "COLUMNS", "Checkpoint", "find_checkpoints", "load_checkpoint_model", "plot_trajectories_by_seed", "read_results",
    "seed_bands", "sweep", "tokens_seen",
]

"""What the downstream metrics share: the :data:`Estimate` they return, the weighted bootstrap over test items
that gives its interval, its default number of resamples, and the range each metric can take.

Intervals resample test items with ``scipy.stats.bootstrap`` (percentile method; the whole
procedure, threshold included, is re-run on every resample, with the item multiplicities as
weights). Resamples where a statistic is undefined (an occupation without women, say) are left
out of its interval, and the count of usable resamples is kept. The metrics call
``estimates.bootstrap_statistics`` through this module, so replacing it here (a test's spy) reaches them all.
"""

from __future__ import annotations

import numpy as np

from ..analysis.stats import LEVEL, Interval
from ..analysis.stats import weighted_bootstrap as bootstrap_statistics

__all__ = ["Estimate", "N_RESAMPLES", "LEVEL", "bootstrap_statistics", "metric_bounds"]

N_RESAMPLES = 999

#: a metric's value on the test items with its bootstrap interval over items: ``estimate, low, high, level, n
#: (items), method, p_value, p_method, resamples`` (the usable resamples); babybias's one result object
Estimate = Interval

_UNIT = {"accuracy", "auc", "threshold", "fpr", "fnr", "gap_rms", "gap_rms_corrected"}
_NONNEGATIVE = {"fped", "fned", "fped_noise_floor", "fned_noise_floor", "n_terms_fped", "n_terms_fned"}


def metric_bounds(name: str) -> tuple[float, float]:
    """The range a metric of :func:`bios_metrics` / :func:`toxicity_metrics` can take (``"madlibs/auc"`` →
    (0, 1), FPED → (0, inf), Pearson r → (−1, 1)); (−inf, inf) for anything else (upstream probes included)."""
    if name.startswith("upstream/"):
        return (-np.inf, np.inf)
    base = name.rsplit("/", 1)[-1]
    if base in _UNIT:
        return (0.0, 1.0)
    if base in _NONNEGATIVE:
        return (0.0, np.inf)
    if base == "gap_share_pearson":
        return (-1.0, 1.0)
    return (-np.inf, np.inf)

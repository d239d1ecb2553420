"""Deprecated: the downstream metrics moved by responsibility, and this module only forwards to them.

* :mod:`babybias.downstream.bias_in_bios` — TPR gaps, GAP_RMS (plain and bias-corrected), r(gap, share of women);
* :mod:`babybias.downstream.toxicity` — AUCs, the EER threshold, FPR/FNR, FPED/FNED and their noise floor;
* :mod:`babybias.downstream.estimates` — what both share: ``Estimate``, the bootstrap, ``metric_bounds``.

Every name this module had stays importable from it, with a ``DeprecationWarning`` naming its new home
(``from babybias.downstream import ...`` keeps working without one).
"""

from __future__ import annotations

from ..helpers.deprecation import moved_names

_BIOS = "babybias.downstream.bias_in_bios"
_TOXICITY = "babybias.downstream.toxicity"
_SHARED = "babybias.downstream.estimates"
_MOVED = {
    **dict.fromkeys(["tpr_gaps", "gap_rms", "gap_rms_corrected", "gap_share_correlation", "fisher_interval",
                     "bios_metrics", "GAP_VARIANTS"], _BIOS),
    **dict.fromkeys(["term_masks", "equal_error_rate_threshold", "term_rates", "fped_fned", "auc_table",
                     "toxicity_metrics", "weighted_auc", "noise_floor", "EER_THRESHOLDS", "PLAIN_TERM"], _TOXICITY),
    **dict.fromkeys(["Estimate", "N_RESAMPLES", "LEVEL", "bootstrap_statistics", "metric_bounds"], _SHARED),
    "Interval": "babybias.analysis.stats",
}

__all__ = sorted(_MOVED)

__getattr__ = moved_names(__name__, _MOVED)

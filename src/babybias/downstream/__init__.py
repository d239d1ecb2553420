"""Downstream (extrinsic) bias: fine-tune any pre-trained encoder as a classifier, measure its
TPR / FPR gaps with bootstrap intervals, and test bias transfer with upstream and downstream
interventions (Steed et al. 2022). See docs/downstream.md.

>>> from babybias.downstream import tpr_gaps, gap_rms
>>> table = tpr_gaps(["nurse", "nurse", "surgeon", "surgeon"], ["nurse", "surgeon", "surgeon", "surgeon"],
...                  ["female", "male", "female", "male"], classes=["nurse", "surgeon"])
>>> table.gap.tolist(), round(gap_rms(table.gap), 4)
([1.0, 0.0], 0.7071)
"""

from .data import (BIOS_PROFESSIONS, DataError, identity_terms, load_bios, load_toxicity, madlibs_77k, read_table,
                   share_female, split_frame, wikipedia_toxicity_test)
from .finetune import (FINETUNE_RECIPES, FineTuneConfig, FineTuneResult, classifier_input, finetune, finetune_recipe,
                       load_classifier, load_finetuned, predict_proba)
from .interventions import (Baseline, DownstreamIntervention, NoPretraining, Rebalance, Scrub, UpstreamDebias,
                            UpstreamModel, WeightPerturbation, get_intervention, scrub_bio, scrub_terms)
from .bias_in_bios import bios_metrics, fisher_interval, gap_rms, gap_rms_corrected, gap_share_correlation, tpr_gaps
from .estimates import Estimate, metric_bounds
from .toxicity import (auc_table, equal_error_rate_threshold, fped_fned, noise_floor, term_masks, term_rates,
                       toxicity_metrics, weighted_auc)
from .tasks import BiosTask, DownstreamTask, ToxicityTask, get_task
from .transfer import (DEFAULT_INTERVENTIONS, TransferConfig, TransferResult, bias_transfer, collect,
                       transfer_grid, transfer_regression, upstream_bias)

__all__ = [
    "BIOS_PROFESSIONS", "DataError", "identity_terms", "load_bios", "load_toxicity", "madlibs_77k", "read_table",
    "share_female", "split_frame", "wikipedia_toxicity_test",
    "FINETUNE_RECIPES", "FineTuneConfig", "FineTuneResult", "classifier_input", "finetune", "finetune_recipe",
    "load_classifier", "load_finetuned", "predict_proba",
    "Baseline", "DownstreamIntervention", "NoPretraining", "Rebalance", "Scrub", "UpstreamDebias", "UpstreamModel",
    "WeightPerturbation", "get_intervention", "scrub_bio", "scrub_terms",
    "Estimate", "auc_table", "bios_metrics", "equal_error_rate_threshold", "fisher_interval", "fped_fned", "gap_rms",
    "gap_rms_corrected", "gap_share_correlation", "metric_bounds", "noise_floor", "term_masks", "term_rates", "toxicity_metrics", "tpr_gaps", "weighted_auc",
    "BiosTask", "DownstreamTask", "ToxicityTask", "get_task",
    "DEFAULT_INTERVENTIONS", "TransferConfig", "TransferResult", "bias_transfer", "collect", "transfer_grid",
    "transfer_regression", "upstream_bias",
]

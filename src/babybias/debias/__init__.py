"""Post-model debiasing of any masked or causal LM (LTG-BERT, GPT-BERT, BERT, GPT-2, ...).

scikit-learn habits: configure, ``fit(model, tokenizer, corpus)``, then ``apply(model)`` → a debiased
copy that :func:`babybias.evaluate.evaluate` scores as it is. Sent-Debias and INLP project the LM
head's input (``h ← h P``); Self-Debias rescales the output distribution with bias-describing
prefixes. ``save_debiased`` / ``load_debiased`` keep the projection beside the weights (``save_projection``,
``read_projection``, ``attach_projection``: the projection API of :mod:`babybias.models.projection`), and
importing this package lets :func:`babybias.models.load_lm` re-wrap a saved Self-Debias folder. Intra-model
debiasing (continued pre-training) is ``babybias.train.train(..., init_from=...)`` and
``babybias.experiment.ContinuedPretraining``; every method on every model is
``babybias.experiment.compare_debiasing``. See docs/debias.md.

>>> from babybias.debias import INLP, SentDebias, SelfDebias
>>> SentDebias(k=1).name, INLP(n_iterations=80).name, SelfDebias(bias_types=("gender",)).name
('sent-debias', 'inlp', 'self-debias')
"""

from .base import (HEAD_NAMES, DebiasError, PostModelDebiaser, ProjectionDebiaser, attach_projection, detach_projection,
                   head_inputs, hidden_size, lm_head, load_debiased, model_max_length, projection_of, projection_record,
                   read_projection, restore_projection, save_debiased, save_projection)
from .methods import INLP, INLP_RECIPES, SENT_DEBIAS_RECIPES, SentDebias, counterfactual_pairs, inlp_sentences
from .projections import (BIAS_BENCH_TRAIN_SCALE, INLPResult, inlp, nullspace_projection, rowspace_projection,
                          sent_debias_subspace, subspace_removal)
from .self_debias import (BABYBIAS_PREFIXES, SELF_DEBIAS_PREFIXES, SelfDebias, SelfDebiasedLM, load_self_debiased,
                          self_debias_logits)

__all__ = [
    "HEAD_NAMES", "DebiasError", "model_max_length", "INLP_RECIPES", "SENT_DEBIAS_RECIPES", "BIAS_BENCH_TRAIN_SCALE",
    "BABYBIAS_PREFIXES", "PostModelDebiaser", "ProjectionDebiaser", "attach_projection", "detach_projection",
    "head_inputs",
    "lm_head", "load_debiased", "projection_of", "save_debiased", "INLP", "SentDebias", "counterfactual_pairs",
    "inlp_sentences", "INLPResult", "inlp", "nullspace_projection", "rowspace_projection", "sent_debias_subspace",
    "subspace_removal", "SELF_DEBIAS_PREFIXES", "SelfDebias", "SelfDebiasedLM", "self_debias_logits",
    "hidden_size", "projection_record", "save_projection", "read_projection", "restore_projection", "load_self_debiased",
]

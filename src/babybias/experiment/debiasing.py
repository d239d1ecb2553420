"""Every debiasing method on every model, over seeds: the response table the CCA analysis takes.

The seed study (Trhlik et al., arXiv 2601.09421) applies the same methods to BERT and to a BabyLM
and asks whether the two respond alike (its ρ₁ = 0.981). :func:`compare_debiasing` runs each method
(a post-model debiaser from :mod:`babybias.debias`, or :class:`ContinuedPretraining` for the
intra-model ones) on each model for each seed, evaluates before and after, and returns each
metric's change with intervals over seeds (and over items) — and, per model, the methods × metrics
frame of mean changes that :func:`babybias.analysis.cca_alignment` takes.
"""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..evaluate import EvaluationResult, evaluate
from ..evaluate.registry import NotApplicableError
from ..train import TrainConfig, dropout_debiasing, get_recipe, train
from .conditions import with_seed_and_tokenizer
from .effects import estimate_effect, item_data

__all__ = ["ContinuedPretraining", "DebiasingComparison", "compare_debiasing", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("gender_log_odds/winobias/mean_log_odds", "gender_log_odds/templates/mean_log_odds",
                   "crows_pairs/overall", "crows_pairs/gender", "stereoset/overall/ss", "stereoset/gender/ss",
                   "stereoset/overall/lms", "blimp/overall")


@dataclass
class ContinuedPretraining:
    """Intra-model debiasing with the post-model habits: ``fit`` continues pre-training the model
    (:func:`babybias.train.train` with ``init_from``), ``apply`` returns the trained model.

    ``recipe``: a recipe name or :class:`~babybias.train.TrainConfig` (default bias-bench's
    ``bias_bench_cpt``; ``steps`` replaces its steps); ``intervention``: a corpus intervention applied
    to the corpus first (``CDA``, ``CDS``, ``Pipeline([KeepAttributeUnits(), CDA()])`` for bias-bench's
    CDA data); ``dropout``: Webster et al.'s dropout (hidden 0.20, attention 0.15); ``loss_hooks``: a
    factory ``f(model, tokenizer) -> [hooks]`` (e.g. ``lambda m, t: [AttributeSubspaceLoss(m, t)]``).
    ``output_dir``: where the run goes (default a temporary folder, kept until the process ends).
    """

    recipe: str | TrainConfig = "bias_bench_cpt"
    intervention: Any = None
    dropout: bool = False
    loss_hooks: Callable[[Any, Any], Sequence] | None = None
    steps: int | None = None
    seed: int = 0
    output_dir: str | None = None
    progress: bool = False
    name = "continued-pretraining"

    def config(self) -> TrainConfig:
        cfg = get_recipe(self.recipe) if isinstance(self.recipe, str) else self.recipe
        cfg = cfg.replace(seed=self.seed, **({} if self.steps is None else {"steps": self.steps, "epochs": None}))
        return dropout_debiasing(cfg) if self.dropout else cfg

    def fit(self, model, tokenizer, corpus=None) -> "ContinuedPretraining":
        from ..corpus import wikipedia_sample

        corpus = wikipedia_sample() if corpus is None else corpus
        if isinstance(corpus, (list, tuple)):
            import datasets

            corpus = datasets.Dataset.from_dict({"text": list(corpus)})
        if self.intervention is not None:
            corpus, _ = self.intervention.apply(corpus)
        self._tmp = tempfile.TemporaryDirectory(prefix="babybias-cpt-") if self.output_dir is None else None
        out = Path(self.output_dir or self._tmp.name)
        init = model
        if self.dropout and not isinstance(model, (str, Path)):  # dropout is set on the loaded config: save it first
            init = out / "init"
            model.save_pretrained(init)
        start = copy.deepcopy(init) if not isinstance(init, (str, Path)) else init  # the given model stays untouched
        hooks = list(self.loss_hooks(model, tokenizer)) if self.loss_hooks is not None else []
        result = train(self.config(), corpus, tokenizer, out / "run", init_from=start, loss_hooks=hooks,
                       progress=self.progress)
        self.model_ = result.model.eval()
        self.fit_stats_ = {"steps": result.steps, "final_loss": result.final_loss}
        return self

    def apply(self, model):
        if getattr(self, "model_", None) is None:
            raise RuntimeError("ContinuedPretraining is not fitted: call fit(model, tokenizer, corpus) first")
        return self.model_


def _seeded(method: Any) -> bool:
    """Whether a method has a ``seed`` to vary (a dataclass field); a method without one is fitted once."""
    return dataclasses.is_dataclass(method) and "seed" in {f.name for f in dataclasses.fields(method)}


@dataclass
class DebiasingComparison:
    """The scores of every (model, method, seed) and the change of every metric with its intervals."""

    scores: pd.DataFrame                 # model, method, seed, metric, value ("none" = undebiased, seed -1)
    table: pd.DataFrame                  # model, method, metric, before, after, change, intervals, verdict
    fit_stats: dict = field(default_factory=dict)

    def responses(self, model: str, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Methods × metrics of the mean change for ``model``: the input of :func:`babybias.analysis.cca_alignment`."""
        part = self.table[self.table["model"] == model]
        if part.empty:
            raise KeyError(f"no model {model!r}; models: {sorted(self.table['model'].unique())}")
        frame = part.pivot(index="method", columns="metric", values="change")
        return frame[list(metrics)] if metrics is not None else frame


def _evaluate(model, tokenizer, benchmarks, limit, metrics) -> tuple[dict, dict]:
    """Scores and, per metric, its item values (an item mean) or rows and aggregation (another score); a benchmark
    that does not apply to this model (SEAT on a Self-Debias wrapper) is left out, with a warning."""
    results = {}
    for bench in benchmarks:
        try:
            results |= evaluate(model, tokenizer, [bench], limit=limit, progress=False).benchmarks
        except NotApplicableError as err:
            warnings.warn(f"{getattr(bench, 'name', bench)} left out for this model: {err}", stacklevel=3)
    result = EvaluationResult(results)
    items = item_data(result, [m for m in metrics if m in result.scores])
    return result.scores, {m: items.get(m) for m in metrics if m in result.scores}


def compare_debiasing(models: Mapping[str, tuple[Any, Any]], methods: Mapping[str, Any],
                      benchmarks: Sequence = ("gender_log_odds", "crows_pairs", "stereoset", "blimp"),
                      seeds: Sequence[int] = (0, 1, 2), *, corpus=None, limit: int | None = None,
                      metrics: Sequence[str] = DEFAULT_METRICS, n_resamples: int = 1999) -> DebiasingComparison:
    """Run every method on every model for every seed and tabulate each metric's change.

    ``models``: name → ``(model, tokenizer)``; ``methods``: name → an unfitted debiaser (its ``seed``,
    if it has one, is set to each seed; one without, such as ``SelfDebias``, is fitted and evaluated
    once and its result stands for every seed, so its interval over seeds has zero width).
    The change is after − before, paired by seed (t interval over seeds) and by item (paired
    bootstrap of the seed-averaged item values against the undebiased model's).
    """
    if not models or not methods:
        raise ValueError("compare_debiasing needs at least one model and one method")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    records, table, stats = [], [], {}
    for model_name, (model, tokenizer) in models.items():
        before, before_items = _evaluate(model, tokenizer, benchmarks, limit, metrics)
        records += [{"model": model_name, "method": "none", "seed": -1, "metric": k, "value": v} for k, v in before.items()]
        for method_name, method in methods.items():
            after, after_items = {}, {}
            for seed in seeds:
                if not _seeded(method) and seed != seeds[0]:  # nothing varies with the seed: the first result again
                    after[seed], after_items[seed] = after[seeds[0]], after_items[seeds[0]]
                    stats[(model_name, method_name, seed)] = stats[(model_name, method_name, seeds[0])]
                else:
                    spec = with_seed_and_tokenizer(method, seed, None) if _seeded(method) else copy.deepcopy(method)
                    fitted = spec.fit(model, tokenizer, corpus)
                    after[seed], after_items[seed] = _evaluate(fitted.apply(model), tokenizer, benchmarks, limit, metrics)
                    stats[(model_name, method_name, seed)] = getattr(fitted, "fit_stats_", {})
                records += [{"model": model_name, "method": method_name, "seed": seed, "metric": k, "value": v}
                            for k, v in after[seed].items()]
            for m in metrics:
                if m not in before or not all(m in after[s] for s in seeds):
                    continue
                have_items = before_items.get(m) is not None and all(after_items[s].get(m) is not None for s in seeds)
                e = estimate_effect({s: before[m] for s in seeds}, {s: after[s][m] for s in seeds},
                                    baseline_items={s: before_items[m] for s in seeds} if have_items else None,
                                    condition_items={s: after_items[s][m] for s in seeds} if have_items else None,
                                    name=method_name, metric=m, reference="undebiased", n_resamples=n_resamples)
                row = e.to_dict()
                row.pop("per_seed")
                table.append({"model": model_name, "method": method_name, "metric": m, "before": before[m],
                              "after": float(np.mean([after[s][m] for s in seeds])), "change": e.estimate,
                              **{k: v for k, v in row.items() if k not in ("condition", "reference", "metric", "estimate")}})
    return DebiasingComparison(pd.DataFrame(records), pd.DataFrame(table), stats)

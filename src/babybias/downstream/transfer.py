"""``bias_transfer``: the grid intervention × seed of a bias-transfer study (Steed et al. 2022).

Each cell fine-tunes the (intervened) pre-trained model on the (intervened) fine-tuning data with one
seed, scores the classifier on the task's test sets (every metric with a bootstrap interval over test
items), probes the starting model's upstream bias, and writes ``cells/<intervention>/seed-<k>/cell.json``
last (atomically). A re-run skips finished cells and resumes an unfinished fine-tune from its newest
complete checkpoint; a folder written with other options is refused.

:func:`collect` turns the cells into the table (mean over seeds with a t interval, n seeds), the
effect of every intervention against the baseline (paired by seed: t interval and one-sample t test
on the per-seed differences), the regression of the per-group downstream gap on upstream bias and on
the fine-tuning data's co-occurrence rate, and ``comparison.png``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from torch import nn

from ..analysis.grid import (Cell, Grid, collect_records, jsonable, parse_seeds, rank, read_records, save_figure)
from ..analysis.stats import LEVEL, no_spread
from ..helpers.io import atomic_write_text
from .finetune import FineTuneConfig, finetune, finetune_recipe, load_classifier, predict_proba
from .data import DataError
from .interventions import DownstreamIntervention, check_pretrained_source, get_intervention
from .estimates import N_RESAMPLES, metric_bounds
from .tasks import DownstreamTask, get_task

__all__ = ["TransferConfig", "TransferResult", "bias_transfer", "collect", "upstream_bias", "transfer_regression",
           "transfer_grid", "DEFAULT_INTERVENTIONS"]

DEFAULT_INTERVENTIONS = ("baseline", "scrub", "rebalance", "no_pretraining", "weight_perturbation")
RECORD = "cell.json"      # a finished cell's record (written last)
STARTED = "started.json"  # written when a cell starts: what it is and its fingerprint
#: the columns of an item estimate kept in the per-seed values (``Estimate.to_dict`` has these and the p fields)
VALUE_COLUMNS = ("estimate", "low", "high", "level", "n", "resamples", "method")


@dataclass
class TransferConfig:
    """One bias-transfer study. ``model``: the pre-trained encoder (folder, hub id, or an ``nn.Module``
    with ``tokenizer``). ``train`` / ``test``: the task's data (see :meth:`DownstreamTask.load`).
    ``primary_metric`` is fixed before any result is seen (default: the task's). ``finetune``: a
    :class:`FineTuneConfig` or recipe name; ``"auto"`` is ``base`` on a GPU and ``tiny`` on a CPU."""

    task: Any = "bios"
    model: Any = None
    out_dir: str | Path = "bias_transfer"
    interventions: Sequence[Any] = DEFAULT_INTERVENTIONS
    seeds: Sequence[int] | int = (0, 1, 2)
    finetune: FineTuneConfig | str = "auto"
    train: Any = None
    test: Any = None
    tokenizer: Any = None
    test_size: float = 0.25
    max_train: int | None = None
    max_test: int | None = None
    primary_metric: str | None = None
    upstream_metric: str | None = None
    n_resamples: int = N_RESAMPLES
    data_seed: int = 0

    def __post_init__(self) -> None:
        self.task = get_task(self.task)
        self.interventions = [get_intervention(i) for i in self.interventions]
        names = [i.name for i in self.interventions]
        if len(set(names)) != len(names):
            raise ValueError(f"interventions must have distinct names, got {names}")
        if "baseline" not in names:
            raise ValueError("the interventions must include 'baseline' (every effect is measured against it)")
        self.seeds = parse_seeds(self.seeds)
        if self.finetune == "auto":  # the GPU recipe where there is a GPU, the CPU-sized one elsewhere
            import torch

            self.finetune = "base" if torch.cuda.is_available() else "tiny"
        self.finetune = finetune_recipe(self.finetune) if isinstance(self.finetune, str) else self.finetune
        if self.model is None:
            raise ValueError("TransferConfig needs model= (a pre-trained encoder: folder, hub id or nn.Module)")
        if isinstance(self.model, nn.Module) and self.tokenizer is None:
            raise ValueError("an in-memory model needs tokenizer=")
        check_pretrained_source(self.model, "model")  # every model path now, not after the first cells fine-tune
        for intervention in self.interventions:
            intervention.check(self.seeds)
        if self.max_test is not None and self.max_test < 2:
            raise ValueError(f"max_test must be >= 2 (an interval over test items needs two), got {self.max_test}")
        if not (0 < self.test_size < 1):
            raise ValueError(f"test_size must be in (0, 1), got {self.test_size}")
        self.primary_metric = self.primary_metric or self.task.primary_metric
        if self.upstream_metric is None:
            self.upstream_metric = "kurita" if self.task.name == "bios" else "crows_pairs/overall"
        self.out_dir = Path(self.out_dir)

    def fingerprint(self) -> dict:
        """What a cell's numbers depend on (seeds excluded: adding seeds to a grid is fine)."""
        def ident(x):
            if x is None or isinstance(x, (str, int, float)):
                p = Path(str(x)) if isinstance(x, str) else None
                return [x, p.stat().st_size] if p is not None and p.is_file() else x
            if isinstance(x, nn.Module):
                h = hashlib.sha256()
                for k, v in sorted(x.state_dict().items()):
                    h.update(k.encode())
                    h.update(v.detach().cpu().float().numpy().tobytes()[:4096])
                return f"module:{type(x).__name__}:{h.hexdigest()[:16]}"
            if isinstance(x, pd.DataFrame):
                return f"frame:{len(x)}:{hashlib.sha256(pd.util.hash_pandas_object(x).values.tobytes()).hexdigest()[:16]}"
            return repr(type(x).__name__)
        return {"task": self.task.name, "model": ident(self.model), "train": ident(self.train), "test": ident(self.test),
                "finetune": self.finetune.to_dict(), "test_size": self.test_size, "max_train": self.max_train,
                "max_test": self.max_test, "n_resamples": self.n_resamples, "data_seed": self.data_seed,
                "upstream_metric": self.upstream_metric,
                "interventions": {i.name: i.params() for i in self.interventions}}


def transfer_grid(config: TransferConfig) -> Grid:
    """The bias-transfer grid (``babybias.analysis.grid``): interventions × seeds under ``config.out_dir``; what
    every cell depends on is :meth:`TransferConfig.fingerprint` less the interventions, whose parameters are
    each intervention's own (a grid can gain interventions later)."""
    options = config.fingerprint()
    own = options.pop("interventions")
    return Grid(config.out_dir, [i.name for i in config.interventions], config.seeds, options=options,
                condition_options=own, roles={i.name: "baseline" if i.name == "baseline" else "intervention"
                                              for i in config.interventions}, record=RECORD, info=STARTED)


def check_test_data(config: TransferConfig, tests: dict[str, pd.DataFrame]) -> None:
    """Refuse test data that cannot give the task's gaps, before any fine-tuning: Bias in Bios needs an
    occupation with test bios of both genders (a TPR gap compares women's and men's TPR in one occupation)."""
    if config.task.name != "bios":
        return
    test = tests["bios"]
    if not (test.groupby("profession").gender.nunique() >= 2).any():
        cap = f" (max_test={config.max_test})" if config.max_test is not None else ""
        raise DataError(f"the {len(test)} test bios{cap} hold no occupation with bios of both genders, so no TPR "
                        "gap and no gap_rms can be computed: a gap needs at least one woman's and one man's bio of "
                        "one occupation; give more test bios (a larger max_test, or none)")


# --------------------------------------------------------------------------- upstream bias


def upstream_bias(model: nn.Module, tokenizer, task: DownstreamTask, metric: str) -> tuple[dict[str, float], float]:
    """``(per-group upstream bias, model-level value)`` of the model a cell starts from (before fine-tuning).

    ``kurita`` (bios): Kurita et al.'s he − she log-probability bias of "[he/she] is a(n) <occupation>"
    for each of the 28 occupations (Steed et al.'s upstream measure); the model-level value is its mean.
    Any other name is a ``babybias.evaluate`` score (``"<benchmark>/<key>"``), model-level only.
    """
    from ..evaluate import evaluate
    from ..evaluate.fairness import KuritaBias

    if metric == "kurita":
        occupations = tuple(o.replace("_", " ") for o in task.classes) if task.name == "bios" else ()
        if not occupations:
            raise ValueError("the 'kurita' upstream probe needs occupations (the bios task)")
        res = evaluate(model, tokenizer, [KuritaBias(occupations=occupations, n_resamples=99)], progress=False)
        rows = res["kurita"].rows
        per = {task.classes[i]: float(b) for i, b in enumerate(rows["bias"])}
        return per, float(np.mean(list(per.values())))
    bench = metric.split("/")[0]
    res = evaluate(model, tokenizer, [bench], progress=False)
    if metric not in res.scores:
        raise ValueError(f"upstream metric {metric!r} is not a score of {bench!r}: {sorted(res.scores)[:8]}")
    return {}, float(res.scores[metric])


def _masked_lm(source: Any, tokenizer):
    """The source as a masked LM for the upstream probe (an in-memory model as it is; a folder's saved
    projection re-attached by :func:`babybias.models.load_lm`)."""
    from ..models.loading import load_lm

    if isinstance(source, nn.Module):
        return source
    return load_lm(str(source), "mlm")


# --------------------------------------------------------------------------- one cell


def _estimates(d: dict) -> dict:
    """Metric → plain dict; a bare number (a count, a noise floor) has no item interval."""
    return {k: (v.to_dict() if hasattr(v, "to_dict") else {"estimate": float(v), "low": np.nan, "high": np.nan})
            for k, v in d.items()}


def run_cell(config: TransferConfig, intervention: DownstreamIntervention, seed: int, train: pd.DataFrame,
             tests: dict[str, pd.DataFrame], callbacks: Sequence[Any] = ()) -> dict:
    """Fine-tune, score and probe one (intervention, seed) cell; returns (and writes) its record
    (``{}`` on a torchrun rank other than 0)."""
    grid = transfer_grid(config)
    cell = next(c for c in grid.cells() if c.condition == intervention.name and c.seed == seed)
    record = grid.run_one(cell, lambda c: _cell_body(config, intervention, c, train, tests, callbacks),
                          after=_tidy)
    return record or {}


def _tidy(cell: Cell) -> None:
    """A finished cell keeps its final model, not its checkpoints."""
    shutil.rmtree(cell.path / "finetune" / "checkpoints", ignore_errors=True)


def _cell_body(config: TransferConfig, intervention: DownstreamIntervention, cell: Cell, train: pd.DataFrame,
               tests: dict[str, pd.DataFrame], callbacks: Sequence[Any] = ()) -> dict | None:
    """The cell's record: fine-tune (resuming from its newest checkpoint), score, probe; None on a torchrun
    rank other than 0."""
    import torch

    folder, seed = cell.path, cell.seed
    start = time.time()
    cell_train, cell_tests, report = intervention.data(train, dict(tests), config.task, seed)
    tokenizer = config.tokenizer
    if tokenizer is None:  # a folder or hub id: its own tokenizer, for every source derived from it
        from ..models.loading import load_tokenizer

        tokenizer = load_tokenizer(str(config.model), what="model folder")
    source = intervention.source(config.model, seed, tokenizer)
    # a folder brings its own tokenizer (an UpstreamModel's may differ from the base model's)
    classifier, tokenizer = load_classifier(source, len(config.task.classes),
                                            tokenizer=tokenizer if isinstance(source, nn.Module) else None,
                                            pretrained=intervention.pretrained, seed=seed,
                                            id2label=dict(enumerate(config.task.classes)))
    classifier = intervention.model(classifier, tokenizer, seed)
    per_group, upstream = _probe(config, intervention, source, classifier, tokenizer)
    frame = cell_train[["text", "label"]]
    result = finetune(classifier, tokenizer, frame, folder / "finetune", config.finetune, seed=seed, callbacks=callbacks)
    if rank() != 0:  # under torchrun every rank fine-tunes; rank 0 alone scores and writes the cell
        return None
    probs = {name: predict_proba(result.model, tokenizer, t.text.tolist(), batch_size=config.finetune.eval_batch_size,
                                 max_length=config.finetune.max_length) for name, t in cell_tests.items()}
    summary, table = config.task.score(probs, cell_tests, cell_train, train, n_resamples=config.n_resamples, seed=seed)
    table["upstream_bias"] = [per_group.get(g, np.nan) for g in table["group"]] if per_group else upstream
    record = {"intervention": intervention.name, "seed": seed, "params": intervention.params(), "report": report,
              "metrics": _estimates(summary), "upstream": {"metric": config.upstream_metric, "value": upstream,
                                                          "per_group": per_group},
              "groups": json.loads(table.to_json(orient="records")), "n_train": len(cell_train),
              "n_test": {k: len(v) for k, v in cell_tests.items()}, "resumed_from": result.resumed_from,
              "steps": (result.history[-1] or {}).get("step") if result.history else None,
              "seconds": round(time.time() - start, 2), "device": "cuda" if torch.cuda.is_available() else "cpu"}
    return json.loads(json.dumps(record, default=jsonable))


def _probe(config: TransferConfig, intervention: DownstreamIntervention, source: Any, classifier: nn.Module,
           tokenizer) -> tuple[dict[str, float], float]:
    """The upstream bias of the model the classifier starts from (its trunk in a masked LM). A data-only
    intervention starts from the source unchanged, so a source folder's probe is computed once per grid
    and kept in ``upstream/<hash>.json``."""
    changes_model = not intervention.pretrained or type(intervention).model is not DownstreamIntervention.model
    cache = None
    if not changes_model and not isinstance(source, nn.Module):
        key = hashlib.sha256(json.dumps([str(source), config.upstream_metric]).encode()).hexdigest()[:16]
        cache = config.out_dir / "upstream" / f"{key}.json"
        if cache.exists():
            record = json.loads(cache.read_text())
            return record["per_group"], record["value"]
    probe = _masked_lm(source, tokenizer)
    if changes_model:
        probe = _probe_from(classifier, probe)
    per_group, value = upstream_bias(probe, tokenizer, config.task, config.upstream_metric)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps({"source": str(source), "metric": config.upstream_metric,
                                             "per_group": per_group, "value": value}, indent=1))
    return per_group, value


def _probe_from(classifier: nn.Module, lm: nn.Module) -> nn.Module:
    """``lm`` with its trunk replaced by the classifier's (randomly initialised or perturbed) trunk."""
    import copy

    out = copy.deepcopy(lm)
    out.base_model.load_state_dict(classifier.base_model.state_dict(), strict=False)
    return out


# --------------------------------------------------------------------------- the grid


def bias_transfer(config: TransferConfig | None = None, *, cells: Sequence[int] | None = None,
                  callbacks: Sequence[Any] = (), progress: bool = True, **kwargs) -> "TransferResult | None":
    """Run the grid (every intervention × seed, or the cells numbered in ``cells``) and collect it.

    ``kwargs`` build a :class:`TransferConfig` when ``config`` is None. Returns None when only some
    cells were asked for (collect them later with :func:`collect`)."""
    config = config or TransferConfig(**kwargs)
    grid = transfer_grid(config)
    grid.select(cells)  # an index out of range fails before the data load
    train, tests = config.task.load(config.train, config.test, config.data_seed, config.max_train, config.max_test,
                                    config.test_size)
    check_test_data(config, tests)
    by_name = {i.name: i for i in config.interventions}

    def done(k: int, n: int, cell: Cell, rec: dict) -> None:
        if progress:
            m = rec["metrics"].get(config.primary_metric, {})
            print(f"[{k}/{n}] {cell.condition} seed {cell.seed}: {config.primary_metric} "
                  f"{m.get('estimate', float('nan')):.3f} [{m.get('low', float('nan')):.3f}, "
                  f"{m.get('high', float('nan')):.3f}] ({rec['seconds']:.0f} s)", flush=True)

    grid.run(lambda cell: _cell_body(config, by_name[cell.condition], cell, train, tests, callbacks), cells,
             done=done, after=_tidy, extra={"task": config.task.name, "primary_metric": config.primary_metric})
    if cells is not None or rank() != 0:
        return None
    return collect(config.out_dir, primary_metric=config.primary_metric)


# --------------------------------------------------------------------------- collecting


@dataclass
class TransferResult:
    """The collected grid: per-seed values, the table, effects against the baseline, the regression."""

    out_dir: Path
    task: str
    primary_metric: str
    values: pd.DataFrame            # one row per (intervention, seed, metric): estimate, low, high (items)
    table: pd.DataFrame             # one row per (intervention, metric): mean over seeds, t interval, n
    effects: pd.DataFrame           # one row per (intervention, metric): intervention − baseline, paired by seed
    regression: pd.DataFrame        # one row per predictor
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)  # every cell's per-group rows
    summary: list[str] = field(default_factory=list)

    def pretty_table(self, metrics: Sequence[str] | None = None, digits: int = 3) -> pd.DataFrame:
        """``mean [low, high] (n)`` per intervention (rows) and metric (columns), the primary metric first."""
        metrics = list(metrics or [self.primary_metric] + sorted(m for m in self.table.metric.unique()
                                                                 if m != self.primary_metric))
        rows = {}
        for _, r in self.table[self.table.metric.isin(metrics)].iterrows():
            rows.setdefault(r.intervention, {})[r.metric] = (
                f"{r['mean']:.{digits}f} [{r['low']:.{digits}f}, {r['high']:.{digits}f}] (n={int(r.n)})")
        frame = pd.DataFrame.from_dict(rows, orient="index")
        return frame[[m for m in metrics if m in frame.columns]]


def transfer_regression(groups: pd.DataFrame) -> pd.DataFrame:
    """OLS of the per-group signed gap on the (standardised) upstream bias and fine-tuning co-occurrence.

    One row per (cell, group) with finite values. Reports each standardised coefficient with a t
    interval, its p, and the R² of each predictor alone and of both: how much of the downstream gap
    each explains. Rows of one cell share a model, so the intervals treat them as independent and
    are optimistic; compare the R² shares rather than reading the p-values literally."""
    cols = ["signed_gap", "upstream_bias", "cooccurrence"]
    if groups.empty or not set(cols) <= set(groups.columns):
        return pd.DataFrame()
    rows = groups[cols].astype(float).replace([np.inf, -np.inf], np.nan).dropna()
    if rows.empty:  # no group with a finite gap (e.g. a few test items): nothing to regress
        return pd.DataFrame([{"predictor": c, "n_rows": 0, "note": "no group with a finite gap"} for c in cols[1:]])
    usable = [c for c in cols[1:] if not no_spread(rows[c].to_numpy())]
    if len(rows) < len(usable) + 3 or not usable:
        return pd.DataFrame([{"predictor": c, "n_rows": len(rows), "note": "too few rows or no variation"}
                             for c in cols[1:]])
    constant = [c for c in cols[1:] if c not in usable]
    y = rows.signed_gap.to_numpy()
    X = np.column_stack([(rows[c] - rows[c].mean()) / rows[c].std() for c in usable])
    X1 = np.column_stack([np.ones(len(y)), X])
    beta, *_ = np.linalg.lstsq(X1, y, rcond=None)
    resid = y - X1 @ beta
    dof = len(y) - X1.shape[1]
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(X1.T @ X1)
    se = np.sqrt(np.diag(cov))
    tcrit = stats.t.ppf(0.5 + LEVEL / 2, dof)
    tss = float(((y - y.mean()) ** 2).sum())
    r2_all = 1 - float(resid @ resid) / tss if tss > 0 else np.nan
    out = []
    for j, c in enumerate(usable, start=1):
        alone = stats.linregress(X[:, j - 1], y)
        out.append({"predictor": c, "coef_per_sd": float(beta[j]), "low": float(beta[j] - tcrit * se[j]),
                    "high": float(beta[j] + tcrit * se[j]),
                    "p_value": float(2 * stats.t.sf(abs(beta[j] / se[j]), dof)) if se[j] > 0 else np.nan,
                    "r2_alone": float(alone.rvalue ** 2), "r2_both": r2_all, "n_rows": len(y)})
    out += [{"predictor": c, "n_rows": len(y), "note": "constant over the rows: left out"} for c in constant]
    return pd.DataFrame(out)


def collect(out_dir: str | Path, *, primary_metric: str | None = None, write: bool = True) -> TransferResult:
    """Read every finished cell of ``out_dir`` into a :class:`TransferResult` (and write its outputs:
    ``results.json``, ``table.csv``, ``effects.csv``, ``regression.csv``, ``summary.txt``, ``comparison.png``)."""
    out = Path(out_dir)
    grid = out / "grid.json"
    if not grid.exists():
        raise FileNotFoundError(f"{out} has no grid.json: not a bias_transfer folder")
    meta = json.loads(grid.read_text())
    primary = primary_metric or meta["primary_metric"]
    records, missing = read_records(out, RECORD, what="bias_transfer")
    values = pd.DataFrame([{"intervention": r["intervention"], "seed": r["seed"], "metric": m,
                            **{k: v[k] for k in VALUE_COLUMNS if k in v}}
                           for r in records for m, v in r["metrics"].items() if isinstance(v, dict)])
    values = pd.concat([values, pd.DataFrame([{"intervention": r["intervention"], "seed": r["seed"],
                                               "metric": f"upstream/{r['upstream']['metric']}",
                                               "estimate": r["upstream"]["value"]} for r in records])],
                       ignore_index=True)
    if primary not in set(values.metric):
        raise ValueError(f"primary metric {primary!r} is not among the cells' metrics: {sorted(set(values.metric))}")
    grid = collect_records(records, missing, metrics=_cell_metrics, bounds=_bounds)
    table = grid.table.rename(columns={"condition": "intervention"}).sort_values(
        ["intervention", "metric"], kind="stable").reset_index(drop=True)
    groups = pd.DataFrame([{"intervention": r["intervention"], "seed": r["seed"], **g}
                           for r in records for g in r["groups"]])
    result = TransferResult(out, meta["task"], primary, values, table, _effects_frame(grid, primary),
                            transfer_regression(groups), groups)
    result.summary = _summary(result)
    if write:
        _write(result)
    return result


def _cell_metrics(record: dict) -> dict[str, float]:
    """A cell's metric values (each metric's estimate over its test items) and its upstream bias."""
    found = {m: (np.nan if v.get("estimate") is None else v["estimate"]) for m, v in record["metrics"].items()
             if isinstance(v, dict)}
    found[f"upstream/{record['upstream']['metric']}"] = record["upstream"]["value"]
    return found


def _bounds(metric: str) -> tuple[float, float] | None:
    """The metric's range for clipping its seed intervals (None when unbounded)."""
    bounds = metric_bounds(metric)
    return None if np.isinf(bounds).all() else tuple(bounds)


def _effects_frame(grid, primary: str) -> pd.DataFrame:
    """One row per (intervention, metric) against the baseline, paired by seed (:class:`Effect`); a metric
    with no seed finite in both keeps a row with NaN and n = 0."""
    by = {(e.condition, e.metric): e for e in grid.effects if e.reference == "baseline"}
    keys = grid.values[grid.values.condition != "baseline"][["condition", "metric"]].drop_duplicates()
    rows = []
    for c, m in sorted(keys.itertuples(index=False, name=None)):
        e = by.get((c, m))
        if e is None:
            rows.append({"intervention": c, "metric": m, "primary": m == primary, "estimate": np.nan, "low": np.nan,
                         "high": np.nan, "p_value": np.nan, "n": 0, "distinguishable": False})
            continue
        rows.append({"intervention": c, "metric": m, "primary": m == primary, "estimate": e.estimate,
                     "low": e.seeds.low, "high": e.seeds.high, "p_value": e.p_seeds, "n": e.n_seeds,
                     "distinguishable": bool(e.distinguishable)})
    return pd.DataFrame(rows)


def _summary(result: TransferResult) -> list[str]:
    lines = [f"bias transfer, task {result.task}: primary metric {result.primary_metric} (named before the run); "
             "cells: " + ", ".join(f"{iv} n={n}" for iv, n in result.values[result.values.metric == result.primary_metric]
                                   .groupby("intervention").seed.nunique().items())]
    eff = result.effects[result.effects.primary] if not result.effects.empty else result.effects
    for _, e in eff.iterrows():
        verdict = ("distinguishable from seed noise" if e.distinguishable else
                   "not distinguishable from seed noise" if e.n >= 2 else "one seed: an anecdote, no interval")
        lines.append(f"{e.intervention} − baseline on {e.metric}: {e.estimate:+.3f} [{e.low:+.3f}, {e.high:+.3f}] "
                     f"(95% t interval over {e.n} seeds, p = {e.p_value:.3g}): {verdict}")
    bookkeeping = ("noise_floor", "n_terms", "/threshold")  # not findings: the floors and counts move with the data
    other = result.effects[~result.effects.primary & result.effects.distinguishable
                           & ~result.effects.metric.str.contains("|".join(bookkeeping))] if not result.effects.empty else []
    if len(other):
        lines.append("secondary metrics (exploratory, no multiplicity correction) with seed intervals excluding 0: "
                     + ", ".join(f"{e.intervention}:{e.metric}" for _, e in other.iterrows()))
    if not result.regression.empty and "coef_per_sd" in result.regression:
        parts = [f"{r.predictor} {r.coef_per_sd:+.3f}/sd [{r.low:+.3f}, {r.high:+.3f}], R² alone {r.r2_alone:.2f}"
                 if np.isfinite(r.coef_per_sd) else f"{r.predictor}: {r.note}" for _, r in result.regression.iterrows()]
        lines.append(f"regression of the per-group gap ({int(result.regression.n_rows.iloc[0])} rows; intervals "
                     "treat groups of one cell as independent): " + "; ".join(parts))
    return lines


def _write(result: TransferResult) -> None:
    out = result.out_dir
    atomic_write_text(out / "table.csv", result.table.to_csv(index=False))
    atomic_write_text(out / "effects.csv", result.effects.to_csv(index=False))
    atomic_write_text(out / "regression.csv", result.regression.to_csv(index=False))
    atomic_write_text(out / "summary.txt", "\n".join(result.summary) + "\n")
    payload = {"task": result.task, "primary_metric": result.primary_metric,
               "values": json.loads(result.values.to_json(orient="records")),
               "table": json.loads(result.table.to_json(orient="records")),
               "effects": json.loads(result.effects.to_json(orient="records")),
               "regression": json.loads(result.regression.to_json(orient="records")), "summary": result.summary}
    atomic_write_text(out / "results.json", json.dumps(payload, indent=1))
    plot_comparison(result, out / "comparison.png")


def plot_comparison(result: TransferResult, path: str | Path) -> Path:
    """The primary metric per intervention: each seed's value with its item interval, and the seed mean
    with its t interval."""
    from ..helpers.figures import new_figure  # no pyplot: the caller's backend and figures are left alone

    v = result.values[result.values.metric == result.primary_metric]
    t = result.table[result.table.metric == result.primary_metric].set_index("intervention")
    order = ["baseline"] + sorted(i for i in v.intervention.unique() if i != "baseline")
    fig, ax = new_figure(figsize=(7, 0.6 * len(order) + 1.2))
    for y, iv in enumerate(order):
        rows = v[v.intervention == iv]
        jitter = np.linspace(-0.15, 0.15, max(1, len(rows)))
        for dy, (_, r) in zip(jitter, rows.iterrows()):
            # a segment, not error bars: a percentile interval of FPED can lie wholly above its estimate
            ax.plot([r.low, r.high], [y + dy, y + dy], color="0.6", lw=0.8)
            ax.plot([r.estimate], [y + dy], "o", ms=3, color="0.4")
        if iv in t.index and np.isfinite(t.loc[iv, "low"]):
            m = t.loc[iv]
            ax.plot([m["low"], m["high"]], [y, y], color="C0", lw=2.5)
            ax.plot([m["mean"]], [y], "D", color="C0")
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlabel(f"{result.primary_metric} (grey: seeds, item bootstrap 95%; blue: seed mean, t 95%)")
    ax.set_title(f"bias transfer: {result.task}")
    fig.tight_layout()
    save_figure(fig, path)
    return Path(path)

"""The sandbox: an experiment's conditions × seeds, one self-contained run folder per cell, effects with intervals.

``run(SandboxConfig())`` runs the default experiment — two-sided CDA vs its random-duplication
control vs the baseline, 4 seeds of the ``sandbox`` recipe on the Wikipedia sample shipped with
babybias — and returns a :class:`SandboxResult`. Every (condition, seed) *cell* lives in
``<output>/cells/<condition>/seed-<k>/``:

* ``cell.json`` — what the cell is (experiment, condition, seed, options, fingerprint);
* ``report.json`` — the intervention's report(s) for that seed (the control's too);
* ``train/`` — the training run (checkpoints, ``final/``, ``log.jsonl``, its tokenizer);
* ``evaluation.json`` — every benchmark's scores and per-item rows;
* ``scores.json`` — the flat scores, training figures and the fingerprint; written last, so a cell
  is finished exactly when it exists.

The table is built only by reading cell folders (:func:`collect`), so cells can run anywhere —
one SLURM array task or one ``torchrun`` job each (``run(config, cells=[i])``, CLI ``--cell I``)
— and be collected afterwards (CLI ``--collect DIR``). Re-running skips finished cells and resumes
unfinished training from its last checkpoint. A cell folder written with other options (another
recipe, corpus, limit, ...) is refused rather than mixed in.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import datasets
import numpy as np
import pandas as pd

from ..helpers.paths import require_local
from ..analysis.composites import SANDBOX
from ..analysis.grid import (Cell, Grid, collect_records, effects_frame, fingerprint_of, keep_cells, parse_seeds,
                             plot_effects, rank, read_records, verdict_line, write_json)
from ..analysis.stats import Effect
from ..corpus import load_corpus, wikipedia_sample
from ..corpus.core import check_corpus_source
from ..evaluate import BLiMP, SEAT, BlimpSupplement, CrowsPairs, EvaluationResult, EWoK, StereoSet, WinoBias, evaluate
from ..evaluate.perplexity import Perplexity
from ..evaluate.registry import REGISTRY, benchmark_for, get_benchmark
from ..evaluate.fairness import GenderLogOdds
from ..helpers.paths import is_hub
from ..helpers.checks import check_limit
from ..helpers.io import atomic_write_text
from ..models import train_tokenizer
from ..train import RECIPES, get_recipe, train
from .conditions import GENERAL_METRICS, Experiment, SandboxError, corpus_words, get_experiment
from .effects import item_data

__all__ = ["SandboxConfig", "SandboxResult", "Cell", "cells", "run", "run_cell", "collect", "shipped_corpus",
           "summarize", "sandbox_recipe", "sandbox_grid", "DEFAULT_SEEDS"]

#: the default number of training seeds: enough for a t interval over seeds to exclude 0 for CDA's
#: effect on the gender-direction score at the default recipe (docs/benchmarks.md has the power run).
DEFAULT_SEEDS = (0, 1, 2, 3)
FINISHED = "scores.json"
#: the SandboxConfig fields that change what a cell computes (its fingerprint; the recipe and experiment too).
COMPUTE_OPTIONS = ("corpus", "steps", "vocab_size", "lowercase", "blimp_limit", "bias_limit", "supplement", "ewok")
#: the smallest tokenizer vocabulary (``babybias.models.train_tokenizer``'s: its special tokens and a byte alphabet).
MIN_VOCAB_SIZE = 64
#: ``SandboxConfig(seat="cache")``: the SEAT tests downloaded once into the user's cache (``babybias.evaluate.seat``)
SEAT_CACHE = "cache"


def shipped_corpus() -> datasets.Dataset:
    """The sandbox's default corpus: 16,316 lower-cased English Wikipedia sentences (CC BY-SA;
    :func:`babybias.corpus.wikipedia_sample`)."""
    return wikipedia_sample()


@dataclass
class SandboxConfig:
    """Options of :func:`run`; the defaults are the CPU sandbox of the README (about 11 minutes on 2 cores).

    ``experiment``: a preset (``cda``, ``cds``, ``toxicity``, ``perturbation``), ``module:object`` or an
    :class:`Experiment`; ``control`` (``"default"``, ``"auto"``, ``"none"`` or ``module:object``) and
    ``primary_metric`` override the experiment's; ``axis`` is the perturbation preset's axis.
    ``seeds``: a number of seeds (0 … N−1) or a list. ``conditions``: a subset of the experiment's
    (None = all; a control needs its intervention).
    """

    experiment: Any = "cda"
    control: Any = "default"
    primary_metric: str | None = None
    axis: str | None = None
    recipe: str = "sandbox"
    corpus: str | None = None
    out_dir: str = "sandbox_results"
    conditions: Sequence[str] | None = None
    seeds: Any = DEFAULT_SEEDS
    steps: int | None = None                # None: the recipe's own; else >= 1
    vocab_size: int = 2000
    lowercase: bool | None = None           # None: lower-case iff the corpus is the shipped (lower-cased) sample
    blimp_limit: int | None = 100           # BLiMP (BabyLM-filtered) pairs per paradigm; None = all
    bias_limit: int | None = None           # bias benchmarks: items each (None = all; for quick checks)
    supplement: str | None = None
    ewok: str | None = None
    ewok_password: str | None = None
    seat: str | None = None                 # a folder of SEAT tests, or "cache" (downloaded once): SEAT in every cell
    perplexity: str | None = None           # a text file, folder or "hf:wikitext": perplexity in every cell
    benchmarks: Sequence[str] = ()         # further registered benchmarks every cell evaluates (capped at bias_limit)
    n_resamples: int = 1999                 # bootstrap / permutation resamples of each item interval
    progress: bool = True
    spec: Experiment = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Check every option up front, so a typo fails at once rather than after hours of training."""
        options = {"axis": self.axis} if self.axis is not None else {}
        if self.axis is not None and self.experiment != "perturbation":
            raise ValueError(f"axis applies to the perturbation experiment only, got experiment {self.experiment!r}")
        self.spec = get_experiment(self.experiment, control=self.control, primary_metric=self.primary_metric, **options)
        self.seeds = parse_seeds(self.seeds)
        try:  # a factory or class that cannot be built fails now, not after the baseline has trained
            self.spec.make_intervention(self.seeds[0])
        except TypeError as err:
            raise SandboxError(f"experiment {self.spec.name!r}: its intervention cannot be built for seed "
                               f"{self.seeds[0]}: {err}") from None
        if self.conditions is None:
            self.conditions = self.spec.conditions
        self.conditions = tuple(self.conditions)
        unknown = [c for c in self.conditions if c not in self.spec.conditions]
        if unknown or not self.conditions:
            raise ValueError(f"conditions must be among {list(self.spec.conditions)} (experiment "
                             f"{self.spec.name!r}), got {list(self.conditions)}")
        control = self.spec.control_label if self.spec.control is not None else None
        if control in self.conditions and self.spec.label not in self.conditions:
            raise ValueError(f"the {control} control matches {self.spec.label}'s changes: include "
                             f"'{self.spec.label}' too")
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {self.recipe!r}")
        self.benchmarks = (self.benchmarks,) if isinstance(self.benchmarks, str) else tuple(self.benchmarks)
        own = [b.name for b in sum(_own_benchmarks(self, optional=True), [])]
        for name in self.benchmarks:
            if not isinstance(name, str) or name not in REGISTRY:
                raise SandboxError(f"benchmarks: {name!r} is not a registered benchmark (registered: "
                                   f"{', '.join(REGISTRY.names())})")
            if name in own or self.benchmarks.count(name) > 1:
                raise SandboxError(f"benchmarks: {name!r} is already evaluated in every cell; give it once, and "
                                   "only benchmarks the sandbox does not run")
        names = own + list(self.benchmarks)
        if self.primary_metric is not None and not _known_metric(self.primary_metric, names):
            raise SandboxError(f"primary_metric {self.primary_metric!r} is not a score the sandbox computes: give "
                               f"'<benchmark>/<key>' of {', '.join(names)}, or composite_bias / "
                               "composite_performance (e.g. gender_log_odds/winobias/mean_log_odds)")
        check_limit(self.steps, "steps", "the recipe's own number")
        check_limit(self.blimp_limit, "blimp_limit")
        check_limit(self.bias_limit, "bias_limit")
        for name in ("vocab_size", "n_resamples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.vocab_size < MIN_VOCAB_SIZE:
            raise SandboxError(f"vocab_size must be at least {MIN_VOCAB_SIZE} (the tokenizer's special tokens and "
                               f"byte alphabet need that many; the default is 2000), got {self.vocab_size}")
        if self.corpus is not None:  # a missing or empty local corpus fails now (a hub name is read later)
            check_corpus_source(self.corpus)
        for option in ("supplement", "ewok", "seat", "perplexity"):
            value = getattr(self, option)
            if value is not None and not is_hub(value) and not (option == "seat" and value == SEAT_CACHE):
                require_local(value, f"{option} path")

    def grid_options(self) -> dict:
        """Exactly the options that change what a cell computes (:data:`COMPUTE_OPTIONS`, the recipe and
        what the intervention and control are), not seeds, output, metrics or wording."""
        keep = {name: getattr(self, name) for name in COMPUTE_OPTIONS}
        if self.benchmarks:  # only then: a grid without extra benchmarks keeps its earlier fingerprint
            keep["benchmarks"] = [get_benchmark(n).config() for n in self.benchmarks]
        for option in ("seat", "perplexity"):  # likewise: only when given
            value = getattr(self, option)
            if value is not None:
                keep[option] = value if is_hub(value) or value == SEAT_CACHE else corpus_identity(value)
        keep["corpus"] = corpus_identity(self.corpus)
        spec = self.spec.describe()
        keep["experiment"] = {k: spec[k] for k in ("name", "label", "control_label", "intervention", "control")}
        keep["recipe"] = sandbox_recipe(self).replace(seed=0).to_dict()
        return keep

    def fingerprint(self) -> str:
        """The hash of :meth:`grid_options` (``babybias.analysis.grid.fingerprint_of``): every cell's fingerprint."""
        return fingerprint_of(self.grid_options())

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
             if f.name not in ("spec", "ewok_password")}
        d["experiment"] = self.spec.describe()
        d["control"] = d["experiment"]["control"]
        d["seeds"], d["conditions"] = list(self.seeds), list(self.conditions)
        return d


def _accept_output_dir(init):
    """``SandboxConfig(output_dir=...)``, the spelling before the grids shared one, still works (with a warning)."""

    @functools.wraps(init)
    def __init__(self, *args, output_dir: str | None = None, **kwargs) -> None:
        if output_dir is not None:
            warnings.warn("SandboxConfig(output_dir=) is deprecated: the grids spell it out_dir", DeprecationWarning,
                          stacklevel=2)
            kwargs.setdefault("out_dir", output_dir)
        init(self, *args, **kwargs)

    return __init__


def _deprecated_output_dir(config: SandboxConfig) -> str:
    warnings.warn("SandboxConfig.output_dir is deprecated: the grids spell it out_dir", DeprecationWarning, stacklevel=2)
    return config.out_dir


SandboxConfig.__init__ = _accept_output_dir(SandboxConfig.__init__)  # type: ignore[method-assign]
SandboxConfig.output_dir = property(_deprecated_output_dir)  # type: ignore[attr-defined]


def _known_metric(metric: str, names: Sequence[str]) -> bool:
    bench, _, key = metric.partition("/")
    return metric in ("composite_bias", "composite_performance") or (bench in names and bool(key))


def corpus_identity(corpus: str | None) -> Any:
    """What a cell's corpus is, for its fingerprint: the shipped sample, a hub name, or a local path
    with the relative path and size of each text file under it (a changed file of another size is
    another corpus; an edit that keeps every size is not seen)."""
    if corpus is None:
        return "shipped:wikipedia_sample"
    path = Path(corpus).expanduser()
    if not path.exists():
        return corpus
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {"path": corpus, "files": [[str(f.relative_to(path) if path.is_dir() else f.name), f.stat().st_size]
                                      for f in files]}


def sandbox_recipe(config: SandboxConfig, seed: int = 0):
    """The training recipe of ``config`` for one seed: ``config.steps`` (when given) replaces its steps or epochs."""
    steps = {} if config.steps is None else {"steps": config.steps, "epochs": None}
    return get_recipe(config.recipe, seed=seed, **steps)


# -------------------------------------------------------------------------------------------- cells


def sandbox_grid(config: SandboxConfig) -> Grid:
    """The sandbox's grid (``babybias.analysis.grid``): its conditions × seeds under ``config.out_dir``."""
    return Grid(config.out_dir, config.conditions, config.seeds, options=config.grid_options(),
                roles={c: config.spec.role(c) for c in config.conditions}, record=FINISHED, info="cell.json",
                error=SandboxError)


def cells(config: SandboxConfig) -> list[Cell]:
    """Every cell of the grid, seed by seed (so a stopped grid has whole seeds first), baseline first."""
    return sandbox_grid(config).cells()


TOKENIZER_INFO = "babybias_sandbox_tokenizer.json"


def _tokenizer_options(config: SandboxConfig) -> dict:
    kind = "bpe" if sandbox_recipe(config).model_type == "gpt-bert" else "wordpiece"
    lowercase = (config.corpus is None) if config.lowercase is None else config.lowercase
    return {"corpus": corpus_identity(config.corpus), "vocab_size": config.vocab_size, "kind": kind,
            "lowercase": lowercase, "min_frequency": 2}


def _load_or_train_tokenizer(config: SandboxConfig, corpus, out: Path):
    """The grid's tokenizer, trained once on the baseline corpus and kept in ``<output>/tokenizer``
    with the options it was trained with (another grid's tokenizer there is refused)."""
    tokenizer, saved = _grid_tokenizer(config, corpus, out)
    return tokenizer if saved else _save_grid_tokenizer(tokenizer, config, out)


def _load_grid_tokenizer(folder: Path, options: dict):
    from transformers import AutoTokenizer

    info = folder / TOKENIZER_INFO
    seen = json.loads(info.read_text()) if info.exists() else None
    if seen != options:
        raise SandboxError(f"tokenizer folder {folder} was trained with other options ({seen}; now {options}); "
                           "give another --output")
    return AutoTokenizer.from_pretrained(folder)


def _grid_tokenizer(config: SandboxConfig, corpus, out: Path):
    """``(tokenizer, saved)``: the grid's tokenizer from ``<output>/tokenizer`` (saved), or trained in memory."""
    folder = out / "tokenizer"
    options = json.loads(json.dumps(_tokenizer_options(config)))
    if folder.exists():
        return _load_grid_tokenizer(folder, options), True
    return train_tokenizer(corpus["text"], vocab_size=options["vocab_size"], kind=options["kind"],
                           min_frequency=options["min_frequency"], lowercase=options["lowercase"]), False


def _save_grid_tokenizer(tokenizer, config: SandboxConfig, out: Path):
    """Save a trained grid tokenizer to ``<output>/tokenizer`` atomically; returns the one kept there."""
    folder = out / "tokenizer"
    options = json.loads(json.dumps(_tokenizer_options(config)))
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=".tokenizer."))
    tokenizer.save_pretrained(tmp)
    (tmp / TOKENIZER_INFO).write_text(json.dumps(options, indent=1))
    try:
        tmp.rename(folder)
    except OSError:  # another process (a torchrun rank, a parallel cell) finished first: use its tokenizer
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.exists():
            raise
        return _load_grid_tokenizer(folder, options)
    return tokenizer


def segment_lengths(recipe) -> list[int]:
    """The sequence lengths a training run of ``recipe`` reaches (every phase when its steps depend on the corpus)."""
    phases = [(0.0, recipe.seq_length)] + [(start, length) for start, length, _ in recipe.length_schedule]
    total = recipe.steps
    return sorted({length for start, length in phases if total is None or start * total <= total - 1})


def check_corpus_length(corpus, tokenizer, recipe, name: str = "the corpus") -> None:
    """Raise :class:`SandboxError` when ``corpus`` is too short for one training segment of ``recipe``'s
    longest length: the stream of ``babybias.train`` (each unit framed by the tokenizer and ended with
    SEP/EOS) needs length − 1 tokens. Tokenizes only until that many are found."""
    need = max(segment_lengths(recipe)) - 1
    sep = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    count = 0
    for start in range(0, len(corpus), 1000):
        batch = [t for t in corpus[start:start + 1000]["text"] if isinstance(t, str)]
        for e in tokenizer.backend_tokenizer.encode_batch(batch, add_special_tokens=True):
            count += len(e.ids) + (0 if e.ids and e.ids[-1] == sep else 1)
        if count >= need:
            return
    raise SandboxError(f"{name} is too short to train on: its {len(corpus)} unit(s) make {count} tokens under the "
                       f"grid's tokenizer, and one training segment of the {recipe.name!r} recipe needs {need} "
                       f"(sequence length {need + 1}); give a longer corpus")


def _benchmarks(config: SandboxConfig) -> tuple[list, list]:
    """A cell's benchmarks capped at ``bias_limit`` (``config.benchmarks`` after the sandbox's own) and those
    capped at ``blimp_limit`` per group."""
    whole, grouped = _own_benchmarks(config)
    return whole + [get_benchmark(n) for n in config.benchmarks], grouped


def _own_benchmarks(config: SandboxConfig, optional: bool = False) -> tuple[list, list]:
    """The sandbox's own benchmarks capped at ``bias_limit`` (the bias benchmarks, SEAT, perplexity: all items by
    default) and the ability ones capped at ``blimp_limit`` per group; ``optional``: the BLiMP supplement, EWoK,
    SEAT and perplexity even without their data (every name a metric may use)."""
    bias = [CrowsPairs(), StereoSet(), WinoBias(), GenderLogOdds()]
    ability = [BLiMP(name="blimp", subset="babylm_filtered")]
    if config.supplement or optional:
        ability.append(BlimpSupplement(source=config.supplement))
    if config.ewok or optional:
        ability.append(EWoK(source=config.ewok, password=config.ewok_password))
    if config.seat or optional:
        bias.append(SEAT(source=None if config.seat == SEAT_CACHE else config.seat))
    if config.perplexity or optional:  # windows of the recipe's own sequence length: the context it trained on
        context = None if optional else sandbox_recipe(config).seq_length  # (optional: only the names are read)
        bias.append(Perplexity(source=config.perplexity, context=context, reserve=0))
    return bias, ability


def evaluate_cell_model(model, tokenizer, config: SandboxConfig) -> EvaluationResult:
    """Bias benchmarks, SEAT and perplexity (capped at ``bias_limit``) and ability benchmarks (``blimp_limit`` per
    group)."""
    whole, grouped = _benchmarks(config)
    a = evaluate(model, tokenizer, whole, limit=config.bias_limit, progress=False)
    b = evaluate(model, tokenizer, grouped, limit=config.blimp_limit, progress=False)
    return EvaluationResult(benchmarks=a.benchmarks | b.benchmarks, meta=a.meta)


def summarize(scores: dict[str, float]) -> dict[str, float]:
    """Headline scores of one cell plus ``winobias/bias`` (50 + gap/2) and the ``sandbox`` composite."""
    row = dict(scores)
    if "winobias/gap" in scores:
        row["winobias/bias"] = 50.0 + scores["winobias/gap"] / 2.0
    composite = SANDBOX(scores)
    row["composite_bias"] = composite.bias
    row["composite_performance"] = composite.ability
    return row


class _CorpusCache:
    """The conditions' corpora of one seed, built once per process (the control needs the intervention's)."""

    def __init__(self, config: SandboxConfig, corpus, tokenizer) -> None:
        self.config, self.corpus, self.tokenizer = config, corpus, tokenizer
        self._intervened: dict[int, tuple] = {}

    def intervened(self, seed: int):
        if seed not in self._intervened:
            self._intervened[seed] = self.config.spec.apply_intervention(self.corpus, seed, self.tokenizer)
        return self._intervened[seed]

    def check(self, seed: int, control: bool) -> None:
        """Apply the intervention of ``seed`` (kept for its cells) and build its control: a user's code
        that fails does so before the baseline trains. A user's TypeError becomes a SandboxError."""
        try:
            out, reports = self.intervened(seed)
            if control:
                self.config.spec.make_control(self.corpus, out, reports, seed, self.tokenizer)
        except TypeError as err:
            raise SandboxError(f"experiment {self.config.spec.name!r}: the intervention or its control failed "
                               f"for seed {seed}: {err}") from None

    def build(self, cell: Cell):
        """``(corpus, reports)`` of a cell; reports are plain dicts."""
        if cell.role == "baseline":
            return self.corpus, []
        out, reports = self.intervened(cell.seed)
        if cell.role == "intervention":
            return out, [r.to_dict() for r in reports]
        control = self.config.spec.make_control(self.corpus, out, reports, cell.seed, self.tokenizer)
        result, control_reports = control.apply(self.corpus)
        control_reports = control_reports if isinstance(control_reports, list) else [control_reports]
        return result, [r.to_dict() for r in control_reports] + [dict(r.to_dict(), matched_by_control=True)
                                                                  for r in reports]


def _cell_info(config: SandboxConfig, cell: Cell) -> dict:
    """What a cell is, beyond its condition, role, seed and fingerprint: the experiment and the options."""
    return {"experiment": config.spec.describe(), "config": config.to_dict()}


def _cell_body(config: SandboxConfig, cell: Cell, cache: _CorpusCache) -> dict | None:
    """Build the cell's corpus, train (resuming from its last checkpoint), evaluate; its record (None on a
    torchrun rank other than 0, which only trains)."""
    t0 = time.perf_counter()
    corpus, reports = cache.build(cell)
    write_json(cell.path / "report.json", reports)
    t1 = time.perf_counter()
    recipe = sandbox_recipe(config, seed=cell.seed)
    result = train(recipe, corpus, cache.tokenizer, cell.path / "train", progress=config.progress)
    if rank() != 0:  # under torchrun every rank trains; rank 0 alone evaluates and writes the cell
        return None
    t2 = time.perf_counter()
    evaluation = evaluate_cell_model(result.model, cache.tokenizer, config)
    evaluation.to_json(cell.path / "evaluation.json")
    t3 = time.perf_counter()
    return {"condition": cell.condition, "role": cell.role, "seed": cell.seed, **_cell_info(config, cell),
            "scores": summarize(evaluation.scores),
            "train": {"steps": result.steps, "final_loss": result.final_loss, "recipe": recipe.to_dict()},
            "corpus": {"units": len(corpus), "words": corpus_words(corpus)},
            "seconds": {"corpus": t1 - t0, "train": t2 - t1, "evaluate": t3 - t2}}


def run_cell(config: SandboxConfig, cell: Cell, cache: _CorpusCache, fingerprint: str | None = None) -> dict | None:
    """Run one cell (skipping it if finished, resuming its training if not) and return its ``scores.json``
    (None on a torchrun rank other than 0, which only trains). ``fingerprint`` is not needed (the grid
    computes it) and kept for old callers."""
    return sandbox_grid(config).run_one(cell, lambda c: _cell_body(config, c, cache),
                                        info=lambda c: _cell_info(config, c))


def _prepare(config: SandboxConfig, todo: Sequence[Cell]) -> _CorpusCache | None:
    """Every check before anything is written to the output folder: the corpus and the grid's tokenizer,
    the corpus's length, the intervention (and control) of the first seed that needs them; then the
    tokenizer is saved. Returns the corpus cache the cells share (None when nothing is to run)."""
    if not todo:
        return None
    out = Path(config.out_dir)
    corpus = shipped_corpus() if config.corpus is None else load_corpus(config.corpus)
    tokenizer, saved = _grid_tokenizer(config, corpus, out)
    check_corpus_length(corpus, tokenizer, sandbox_recipe(config),
                        "the shipped corpus" if config.corpus is None else f"corpus {config.corpus}")
    cache = _CorpusCache(config, corpus, tokenizer)
    needs = [c for c in todo if c.role != "baseline"]
    if needs:
        cache.check(needs[0].seed, control=any(c.role == "control" for c in needs))
    if not saved:
        cache.tokenizer = _save_grid_tokenizer(tokenizer, config, out)
    return cache


def run(config: SandboxConfig | None = None, cells: Sequence[int] | None = None, *,
        cells_to_run: Sequence[int] | None = None) -> "SandboxResult | None":
    """Run the grid (or only the cells at the indices ``cells``), then :func:`collect` it.

    With ``cells`` the table is collected only once every cell of the grid is finished (else None is
    returned: another job is still running the rest). ``cells_to_run`` is the deprecated spelling of ``cells``.
    """
    config = SandboxConfig() if config is None else config
    if cells_to_run is not None:
        warnings.warn("run(cells_to_run=) is deprecated: the grids spell it cells=", DeprecationWarning, stacklevel=2)
        cells = cells_to_run
    grid = sandbox_grid(config)
    chosen = grid.select(cells)
    grid.check(chosen)  # a folder of other options is refused before the corpus, tokenizer and intervention checks
    cache = _prepare(config, [c for c in chosen if not c.finished])

    def done(k: int, n: int, cell: Cell, record: dict) -> None:
        primary = record["scores"].get(config.spec.primary_metric, float("nan"))
        print(f"[{k}/{n}] {cell.name}: loss {record['train']['final_loss']:.3f}, "
              f"{config.spec.primary_metric} {primary:.3f}, {sum(record['seconds'].values()):.0f} s", flush=True)

    finished = grid.run(lambda cell: _cell_body(config, cell, cache), cells,
                        info=lambda cell: _cell_info(config, cell), done=done, extra={"config": config.to_dict()})
    if rank() != 0 or (cells is not None and not finished):
        return None
    return collect(config.out_dir, n_resamples=config.n_resamples, primary_metric=config.spec.primary_metric,
                   metrics=config.spec.metrics, cells=[c.name for c in grid.cells()])


# ------------------------------------------------------------------------------------------ collect


@dataclass
class SandboxResult:
    """The collected grid: per-seed values, means with intervals, effects and their verdicts (plain data)."""

    experiment: dict
    primary_metric: str
    shown_metrics: list[str]
    conditions: list[str]
    values: pd.DataFrame         # long: condition, seed, metric, value (one row per cell and metric)
    table: pd.DataFrame          # condition × metric: mean over seeds
    intervals: pd.DataFrame      # long: condition, metric, mean, low, high, n_seeds (t interval over seeds)
    effects: list[Effect]
    summary: list[str]
    missing: list[str]
    out_dir: Path | None = None

    def effects_frame(self) -> pd.DataFrame:
        return effects_frame(self.effects)

    def effect(self, condition: str, metric: str | None = None, reference: str = "baseline") -> Effect:
        """The effect of ``condition`` against ``reference`` (the baseline, or the control) on ``metric``
        (default: the primary metric)."""
        metric = metric or self.primary_metric
        for e in self.effects:
            if e.condition == condition and e.metric == metric and e.reference == reference:
                return e
        raise KeyError(f"no effect of {condition!r} against {reference!r} on {metric!r}")

    def pretty_table(self, metrics: Sequence[str] | None = None, digits: int = 2) -> pd.DataFrame:
        """condition × metric as ``mean [low, high]`` strings (t interval over seeds), with the seed count ``n``."""
        metrics = [m for m in (metrics or self.shown_metrics) if m in self.table.columns]
        iv = self.intervals.set_index(["condition", "metric"])
        rows = {}
        for c in self.conditions:
            row = {}
            for m in metrics:
                if (c, m) not in iv.index:
                    continue
                r = iv.loc[(c, m)]
                row[m] = (f"{r['mean']:.{digits}f}" if not np.isfinite(r["low"])
                          else f"{r['mean']:.{digits}f} [{r['low']:.{digits}f}, {r['high']:.{digits}f}]")
            row["n"] = int(self.values[self.values["condition"] == c]["seed"].nunique())
            rows[c] = row
        frame = pd.DataFrame(rows).T
        frame.index.name = "condition"
        return frame


def _item_values(record: dict, metrics: Sequence[str]) -> dict[str, Any]:
    """metric → per-item values (or rows and aggregation) of one cell, read from its evaluation.json (none without)."""
    path = record["_path"] / "evaluation.json"
    if not path.exists():
        return {}
    return item_data(EvaluationResult.from_json(path), metrics)


def _effect_metrics(shown: Sequence[str], available: set[str]) -> list[str]:
    """Shown metrics plus each benchmark's breakdowns by bias axis (``Benchmark.breakdowns``)."""
    keys: dict[str, list[str]] = {}
    for m in sorted(available):
        name, _, key = m.partition("/")
        if key:
            keys.setdefault(name, []).append(key)
    extra = []
    for name, ks in keys.items():
        bench = benchmark_for(name)
        if bench is not None:
            extra += [f"{name}/{k}" for k in bench.breakdowns(ks)]
    return [m for m in dict.fromkeys([*shown, *extra]) if m in available]


def collect(out_dir: str | Path, n_resamples: int = 1999, write: bool = True, *, primary_metric: str | None = None,
            metrics: Sequence[str] | None = None, cells: Sequence[str] | None = None) -> SandboxResult:
    """Build the table, intervals and effects from the finished cell folders under ``out_dir``.

    ``primary_metric`` / ``metrics`` replace the ones the cells were run with (a primary metric
    is named before the results: change it only to correct a mistake, and say so); ``cells``
    (``"<condition>/seed-<k>"`` names) restricts the table to those cells (default: every cell on
    disk). Writes ``results.json`` (per-seed values, means, effects), ``table.csv`` (means with
    intervals), ``effects.csv``, ``summary.txt`` and ``comparison.png`` (a forest plot) when ``write``.
    """
    out = Path(out_dir)
    records, missing = read_records(out, FINISHED, what="sandbox", error=SandboxError)
    if cells is not None:
        records, missing = keep_cells(records, missing, cells, out, SandboxError)
    experiment = dict(records[0]["experiment"])
    if primary_metric is not None:
        experiment["primary_metric"] = primary_metric
    if metrics is not None:
        experiment["metrics"] = list(metrics)
    primary = experiment["primary_metric"]
    shown = list(dict.fromkeys([primary, *experiment["metrics"], *GENERAL_METRICS]))
    label, control = experiment.get("label"), experiment.get("control_label")
    grid = collect_records(records, missing, metrics=lambda r: r["scores"], items=_item_values,
                           conditions=experiment["conditions"], comparisons=[(label, control)],
                           effect_metrics=lambda available: _effect_metrics(shown, set(available)),
                           n_resamples=n_resamples)
    values, conditions = grid.values, grid.conditions
    if primary not in set(values["metric"]):
        raise SandboxError(f"primary metric {primary!r} is not among the cells' scores; is it spelled as a "
                           f"score key (e.g. gender_log_odds/winobias/mean_log_odds)?")
    shown = [m for m in shown if m in set(values["metric"])]
    intervals = grid.table[grid.table["n"] > 0].rename(columns={"n": "n_seeds"}).reset_index(drop=True)
    table = intervals.pivot(index="condition", columns="metric", values="mean").reindex(conditions)
    table.index.name = "condition"
    no_items = [f"{r['_condition']}/seed-{r['_seed']}" for r in records if not (r["_path"] / "evaluation.json").exists()]
    summary = _summary_lines(experiment, conditions, values, grid.effects, primary, shown, missing)
    if no_items:
        summary.insert(3, f"cells without evaluation.json (their item intervals are absent): {', '.join(no_items)}")
    result = SandboxResult(experiment, primary, shown, conditions, values, table, intervals, grid.effects, summary,
                           missing, out)
    if write:
        _write_outputs(result, out)
    return result


def _summary_lines(experiment, conditions, values, effects, primary, shown, missing) -> list[str]:
    n_seeds = {c: int(values[values["condition"] == c]["seed"].nunique()) for c in conditions}
    lines = [f"experiment {experiment['name']}: {experiment['description']}".rstrip(": "),
             "conditions (seeds each): " + ", ".join(f"{c} ({n_seeds[c]})" for c in conditions),
             f"primary metric, named before the results: {primary}"]
    if missing:
        lines.append(f"unfinished cells, left out: {', '.join(missing)}")
    by_metric = {}
    for e in effects:
        by_metric.setdefault(e.metric, []).append(e)
    for e in by_metric.get(primary, []):
        lines.append(verdict_line(e, primary=True))
    secondary = [e for m in shown if m != primary for e in by_metric.get(m, [])]
    if secondary:
        lines.append(f"secondary metrics (exploratory: {len(secondary)} comparisons, no correction for multiplicity):")
        lines += ["  " + verdict_line(e) for e in secondary]
    return lines


def _write_outputs(result: SandboxResult, out: Path) -> None:
    effects = result.effects_frame()
    payload = {"experiment": result.experiment, "primary_metric": result.primary_metric, "conditions": result.conditions,
               "missing_cells": result.missing, "summary": result.summary,
               "per_seed": result.values.to_dict("records"), "intervals": result.intervals.to_dict("records"),
               "effects": [e.to_dict() for e in result.effects],
               "interval_note": "intervals: 95 %; 'seeds' = t interval over training seeds (paired by seed); "
                                "'items' = paired bootstrap over benchmark items of the seed-averaged item values"}
    write_json(out / "results.json", payload)
    atomic_write_text(out / "table.csv", result.intervals.to_csv(index=False))
    atomic_write_text(out / "effects.csv", effects.to_csv(index=False))
    atomic_write_text(out / "summary.txt", "\n".join(result.summary) + "\n")
    plot_effects(result, out / "comparison.png")

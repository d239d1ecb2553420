"""Checkpoint sweeps: evaluate every checkpoint of training runs, resumably, into one tidy frame.

``sweep(runs, benchmarks, out_path)`` evaluates each checkpoint of each run on each benchmark and
appends one JSON line per (checkpoint, benchmark) to ``out_path`` (written in one ``write`` and
``fsync``-ed); a (run, seed, checkpoint, benchmark, limit, options) already in the file is skipped, so a
killed sweep resumes where it stopped and a finished one evaluates nothing. A line cut short by a
kill is dropped (and the file rewritten without it) before anything is appended.

What a training run (:func:`babybias.train.train`) stores and how it is read here:

* ``checkpoints/step_XXXXXXXX/``: ``save_pretrained`` model (``config.json``, ``model.safetensors``),
  ``trainer_state.pt`` (``step``, the ``TrainConfig`` as ``config``, optimizer, RNG, EMA), ``checksums.json``.
  Invalid (truncated) checkpoints are skipped with a warning. These are the *raw* weights.
* ``final/``: the model after the last step (the *EMA* weights when the recipe keeps an EMA) and
  the tokenizer; its step is the last checkpoint's step (the loop always saves one at the end).
* ``tokenizer/``: the run's tokenizer.

The seed is the ``TrainConfig.seed`` in a checkpoint's trainer state. **Tokens seen is not
recorded by the loop**; it is computed as Σ over the steps before the checkpoint of the global
batch size × sequence length of that step (``TrainConfig.phase``: ramp-ups and length schedules
included), i.e. the nominal token slots of the packed training segments. It is NaN when it cannot
be computed (an ``epochs`` recipe with a schedule that needs the total, run unfinished; or a plain model).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ..evaluate import evaluate
from ..evaluate.registry import REGISTRY
from ..helpers.checks import check_limit
from ..helpers.io import atomic_write_text

COLUMNS = ["run", "seed", "step", "tokens_seen", "checkpoint", "benchmark", "metric", "value"]


@dataclass(frozen=True)
class Checkpoint:
    """One model to evaluate: a local folder or a hub id (with ``revision``), and where it sits in training."""

    path: str
    step: int | None = None
    seed: int | None = None
    tokens_seen: float | None = None
    name: str | None = None        # identity in the results file; default: the folder name (step_..., final) or path@revision
    revision: str | None = None
    tokenizer: str | None = None   # folder or hub id of its tokenizer; default: the model's own, else the run's tokenizer/

    @property
    def key(self) -> str:
        if self.name:
            return self.name
        return f"{self.path}@{self.revision}" if self.revision else Path(self.path).name or str(self.path)


def _trainer_state(checkpoint: Path) -> dict[str, Any]:
    import torch

    try:  # mmap: only the pages read (step, config) are loaded, not the optimizer state
        return torch.load(checkpoint / "trainer_state.pt", map_location="cpu", weights_only=False, mmap=True)
    except RuntimeError:
        return torch.load(checkpoint / "trainer_state.pt", map_location="cpu", weights_only=False)


def tokens_seen(config: Mapping[str, Any], step: int, total: int | None = None) -> float:
    """Σ_{s < step} batch_size(s) × seq_length(s) of the run's ``TrainConfig`` (dict or object); NaN if unknown."""
    from ..train.config import TrainConfig

    if not isinstance(config, TrainConfig):
        config = TrainConfig(**{k: v for k, v in dict(config).items() if k in TrainConfig.__dataclass_fields__})
    total = config.steps or total
    if total is None:
        if config.length_schedule or config.batch_rampup:
            return float("nan")
        total = max(step, 1)  # the phase does not depend on the total
    return float(sum(b * l for l, b in (config.phase(s, total) for s in range(step))))


def find_checkpoints(run_dir: str | os.PathLike, include_final: bool = True) -> list[Checkpoint]:
    """The valid checkpoints of a training run folder, by step, then ``final`` (step = the last checkpoint's)."""
    from ..train.checkpoint import is_valid, list_checkpoints

    run_dir = Path(run_dir)
    found, config, last = [], None, None
    for folder in list_checkpoints(run_dir / "checkpoints"):
        if not is_valid(folder):
            warnings.warn(f"skipping checkpoint {folder}: missing or mismatching files (truncated or corrupt)")
            continue
        state = _trainer_state(folder)
        config, last = state.get("config") or {}, int(state["step"])
        found.append((last, folder, config))
    total = last if (run_dir / "final" / "config.json").exists() else None
    out = [Checkpoint(str(folder), step, cfg.get("seed"), tokens_seen(cfg, step, total) if cfg else float("nan"))
           for step, folder, cfg in found]
    if include_final and (run_dir / "final" / "config.json").exists():
        seed = config.get("seed") if config else None
        toks = tokens_seen(config, last, total) if config and last is not None else float("nan")
        out.append(Checkpoint(str(run_dir / "final"), last, seed, toks))
    if not out:
        raise FileNotFoundError(f"{run_dir} has no valid checkpoint (checkpoints/step_*) and no final/ model")
    return out


def _is_run_dir(path: Path) -> bool:
    return (path / "checkpoints").is_dir() or ((path / "final").is_dir() and not (path / "config.json").exists())


def _as_checkpoint(item, index: int) -> Checkpoint:
    if isinstance(item, Checkpoint):
        return item
    path = str(item)
    m = re.search(r"step_?(\d+)", Path(path).name)
    return Checkpoint(path, step=int(m.group(1)) if m else index)


def _expand(run: str, source) -> list[tuple[Checkpoint, Path | None]]:
    """(checkpoint, the run folder it came from, if any) of one entry of ``runs``."""
    items = [source] if isinstance(source, (str, os.PathLike, Checkpoint)) else list(source)
    out, seeds = [], {}
    for i, item in enumerate(items):
        if not isinstance(item, Checkpoint) and _is_run_dir(Path(item)):
            checkpoints = find_checkpoints(item)
            seed = checkpoints[0].seed
            if seed in seeds:
                raise ValueError(f"run {run!r}: {item} and {seeds[seed]} have the same seed {seed}; give them separate names")
            seeds[seed] = item
            out += [(c, Path(item)) for c in checkpoints]
        else:
            out.append((_as_checkpoint(item, i), None))
    return out


def load_checkpoint_model(checkpoint: Checkpoint | str, kind: str | None = None):
    """The model of a ``save_pretrained`` folder (or hub id) as its masked or causal LM, in eval mode:
    :func:`babybias.models.load_lm` (``kind`` defaults to the one its ``config.json`` tells)."""
    from ..models.loading import load_lm

    c = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(str(checkpoint))
    return load_lm(c.path, kind, revision=c.revision).eval()


def _load_tokenizer(checkpoint: Checkpoint, run_dir: Path | None):
    """The checkpoint's own ``tokenizer``, else the run's ``tokenizer/``, else the model folder's."""
    from ..models.loading import load_tokenizer

    if checkpoint.tokenizer:
        return load_tokenizer(checkpoint.tokenizer)
    if run_dir is not None and (run_dir / "tokenizer").is_dir():
        return load_tokenizer(run_dir / "tokenizer")
    return load_tokenizer(checkpoint.path, revision=checkpoint.revision, what="model folder")


def read_results(out_path: str | os.PathLike, repair: bool = False) -> pd.DataFrame:
    """The tidy frame of a sweep results file (columns :data:`COLUMNS` + ``limit``, ``config_hash``); a line cut short by a
    kill is skipped (and, with ``repair``, the file is rewritten without it)."""
    out_path = Path(out_path)
    records, good, bad = [], [], False
    if out_path.exists():
        text = out_path.read_text(encoding="utf-8")
        for line in text.splitlines():
            try:
                r = json.loads(line)
                r["scores"].items()
            except (ValueError, KeyError, AttributeError, TypeError):
                bad = bad or bool(line.strip())
                continue
            records.append(r)
            good.append(line)
        if repair and (bad or (text and not text.endswith("\n"))):
            atomic_write_text(out_path, "".join(line + "\n" for line in good))
    rows = [{"run": r["run"], "seed": r["seed"], "step": r["step"], "tokens_seen": r["tokens_seen"],
             "checkpoint": r["checkpoint"], "benchmark": r["benchmark"], "metric": metric, "value": value,
             "limit": r.get("limit"), "config_hash": r.get("config_hash")}
            for r in records for metric, value in r["scores"].items()]
    frame = pd.DataFrame(rows, columns=COLUMNS + ["limit", "config_hash"])
    for col in ("step", "tokens_seen", "value"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


def _done(out_path: Path) -> set[tuple]:
    frame = read_results(out_path, repair=True)
    return {(r.run, _none(r.seed), r.checkpoint, r.benchmark, _none(r.limit), r.config_hash)
            for r in frame[["run", "seed", "checkpoint", "benchmark", "limit", "config_hash"]].drop_duplicates().itertuples()}


def config_hash(benchmark, evaluate_kwargs: Mapping[str, Any]) -> str:
    """A short hash of a benchmark's options and the scoring options, so a result is reused only for the same
    configuration (the same name with another ``subset``, ``pll`` or ``metric`` is evaluated again)."""
    text = json.dumps({"benchmark": benchmark.config(), "evaluate": {k: repr(v) for k, v in evaluate_kwargs.items()}},
                      sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _append(out_path: Path, lines: list[str]) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "a", encoding="utf-8") as f:
        f.write("".join(lines))
        f.flush()
        os.fsync(f.fileno())


def sweep(
    runs: Mapping[str, Any],
    benchmarks: Sequence,
    out_path: str | os.PathLike,
    *,
    tokenizer=None,
    limit: int | None = None,
    kind: str | None = None,
    progress: bool = False,
    **evaluate_kwargs,
) -> pd.DataFrame:
    """Evaluate every checkpoint of ``runs`` on ``benchmarks``; returns the tidy frame (:data:`COLUMNS`).

    ``runs`` maps a run name to a training run folder, a list of run folders (seeds of the same run,
    each seed read from its config), or a list of model folders / :class:`Checkpoint` (hub ids with
    ``revision``; a folder named ``step_N`` gets step N, otherwise its position). ``tokenizer`` is one
    tokenizer for all, a mapping run name → tokenizer, or None (the run's ``tokenizer/``, else the
    model folder's own). Results go to ``out_path`` (JSONL); what is there already is not evaluated
    again (same run, seed, checkpoint, benchmark name, ``limit`` and :func:`config_hash` of the
    benchmark's options and the scoring options). ``evaluate_kwargs`` go to
    :func:`babybias.evaluate.evaluate` (``batch_size``, ``device``, ``pll``...).
    """
    limit = check_limit(limit)
    out_path = Path(out_path)
    resolved = REGISTRY.resolve([benchmarks] if isinstance(benchmarks, str) else benchmarks)
    names = [b.name for b in resolved]
    plan = {run: _expand(run, source) for run, source in runs.items()}
    done = _done(out_path)
    hashes = {b.name: config_hash(b, {"kind": kind, **evaluate_kwargs}) for b in resolved}
    tokenizers: dict = {}  # each run's tokenizer/ is loaded once
    for run, checkpoints in plan.items():
        for checkpoint, run_dir in checkpoints:
            todo = [b for b in resolved if (run, checkpoint.seed, checkpoint.key, b.name, limit, hashes[b.name]) not in done]
            if not todo:
                continue
            tok = tokenizer.get(run) if isinstance(tokenizer, Mapping) else tokenizer
            if tok is None:
                where = (checkpoint.tokenizer, run_dir, None if run_dir else (checkpoint.path, checkpoint.revision))
                if where not in tokenizers:
                    tokenizers[where] = _load_tokenizer(checkpoint, run_dir)
                tok = tokenizers[where]
            model = load_checkpoint_model(checkpoint, kind)
            result = evaluate(model, tok, todo, kind=kind, limit=limit, progress=progress, **evaluate_kwargs)
            head = {"run": run, "seed": checkpoint.seed, "step": checkpoint.step, "tokens_seen": checkpoint.tokens_seen,
                    "checkpoint": checkpoint.key, "limit": limit}
            lines = [json.dumps(head | {"benchmark": name, "config_hash": hashes[name], "scores": res.scores}, allow_nan=True) + "\n"
                     for name, res in result.benchmarks.items()]
            _append(out_path, lines)  # one write per checkpoint
            done |= {(run, checkpoint.seed, checkpoint.key, name, limit, hashes[name]) for name in result.benchmarks}
            del model
    frame = read_results(out_path)
    wanted = {(run, c.seed, c.key) for run, cs in plan.items() for c, _ in cs}
    keep = pd.Series([(r.run, _none(r.seed), r.checkpoint) in wanted and r.benchmark in names and _none(r.limit) == limit
                      and r.config_hash == hashes[r.benchmark] for r in frame.itertuples()], index=frame.index, dtype=bool)
    return frame[keep][COLUMNS].reset_index(drop=True)


def seed_bands(frame: pd.DataFrame, metric: str, *, x: str = "step", band: str = "minmax") -> pd.DataFrame:
    """Per run and ``x``: ``mean`` over seeds, ``low``/``high`` of the band and ``n`` seeds, of one metric
    (``"<benchmark>/<metric>"``). ``band="minmax"``: min and max over seeds; ``"t95"``: mean ± t(0.975, n−1)·sd/√n
    (sample sd), NaN where n < 2. Where ``final`` and a checkpoint share an ``x``, ``final`` is used."""
    from scipy import stats

    if band not in ("minmax", "t95"):
        raise ValueError(f"band must be 'minmax' or 't95', got {band!r}")
    if x not in ("step", "tokens_seen"):
        raise ValueError(f"x must be 'step' or 'tokens_seen', got {x!r}")
    part = frame[frame["benchmark"] + "/" + frame["metric"] == metric]
    if part.empty:
        raise KeyError(f"the frame has no metric {metric!r}")
    if part[x].isna().any():
        lost = part[part[x].isna()][["run", "seed", "checkpoint"]].drop_duplicates()
        warnings.warn(f"{len(lost)} checkpoint(s) have no {x} and are left out of the bands "
                      f"(e.g. run {lost.iloc[0]['run']!r}, seed {lost.iloc[0]['seed']}, {lost.iloc[0]['checkpoint']})", stacklevel=2)
    part = part.assign(_final=part["checkpoint"] == "final").sort_values("_final", kind="stable")
    part = part.drop_duplicates(["run", "seed", x], keep="last")
    g = part.groupby(["run", x])["value"]
    out = pd.DataFrame({"mean": g.mean(), "n": g.count()})
    if band == "minmax":
        out["low"], out["high"] = g.min(), g.max()
    else:
        half = g.std(ddof=1) / out["n"].pow(0.5) * stats.t.ppf(0.975, (out["n"] - 1).clip(lower=1))
        half[out["n"] < 2] = float("nan")
        out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out.reset_index()[["run", x, "mean", "low", "high", "n"]]


def plot_trajectories_by_seed(frame: pd.DataFrame, metrics: Sequence[str], path: str | os.PathLike, *,
                              x: str = "step", band: str = "minmax", reference: float | None = 50.0):
    """One panel per metric (``"<benchmark>/<metric>"``), one line per run: the mean over seeds at each ``x``
    (``step`` or ``tokens_seen``) with the band of :func:`seed_bands` (``"minmax"``: min to max over seeds;
    ``"t95"``: a 95 % t-interval of the mean). Returns the figure; writes ``path``."""
    from ..helpers.figures import new_figure, save_figure  # no pyplot: no global figure state, the backend left alone

    metrics = list(metrics)
    fig, axes = new_figure(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        bands = seed_bands(frame, metric, x=x, band=band)
        for run, grp in bands.groupby("run", sort=True):
            line, = ax.plot(grp[x], grp["mean"], marker="o", ms=3, label=f"{run} (n={int(grp['n'].max())})")
            ax.fill_between(grp[x], grp["low"], grp["high"], color=line.get_color(), alpha=0.2, lw=0)
        if reference is not None:
            ax.axhline(reference, color="grey", lw=0.8, ls="--")
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("training step" if x == "step" else "tokens seen")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"score (%), band: {'min–max' if band == 'minmax' else '95% t-interval'} over seeds")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return fig

"""One grid engine for conditions × seeds: cell folders, fingerprints, resume, torchrun, collect, the forest plot.

A grid is every (condition, seed) *cell* of an experiment; each cell lives in its own folder
``<out_dir>/cells/<condition>/seed-<k>/`` and is finished exactly when its record file exists (written
last, atomically). The engine knows nothing of what a cell computes: a grid supplies a *cell body*
(``body(cell) -> record dict``) and, to collect, how to read metric values (and per-item values)
from a record. The sandbox (``babybias.experiment``) and the bias-transfer grid
(``babybias.downstream``) are two such grids; a new grid needs only its body::

    >>> import tempfile
    >>> from babybias.analysis.grid import Grid, collect_grid
    >>> out = tempfile.mkdtemp()
    >>> grid = Grid(out, conditions=("baseline", "louder"), seeds=(0, 1, 2), options={"gain": 2.0})
    >>> done = grid.run(lambda cell: {"scores": {"y": cell.seed + (2.0 if cell.condition == "louder" else 0.0)}})
    >>> result = collect_grid(out, metrics=lambda record: record["scores"])
    >>> [round(e.estimate, 3) for e in result.effects]
    [2.0]

What the engine does, for every grid alike:

* **fingerprint**: ``options`` (JSON-able: what every cell's numbers depend on) and, per condition,
  ``condition_options`` are hashed into each cell's fingerprint (:func:`fingerprint_of`). A cell folder
  or a ``grid.json`` written with other options is refused before any work, never mixed in.
* **resume**: finished cells are skipped; an unfinished cell's body is called again (it resumes its own
  training from its checkpoints).
* **torchrun**: every rank calls the body (all train); rank 0 alone writes records and ``grid.json``.
* **list / run one cell / collect**: :meth:`Grid.cells` (indices are the CLI's ``--cell I``), ``run(indices=)``
  and :func:`collect_grid`, which reads only cell folders, so cells can run anywhere and be collected later.
* **statistics** (``babybias.analysis.stats``): per condition the mean over seeds with its t interval
  (:func:`~babybias.analysis.stats.aggregate_seeds`), and every comparison as an
  :class:`~babybias.analysis.stats.Effect`: paired by seed, and by item where the grid supplies items.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..helpers.figures import new_figure, save_figure
from ..helpers.io import jsonable, write_json
from .stats import LEVEL, Effect, aggregate_seeds, estimate_effect

__all__ = ["GridError", "Cell", "Grid", "GridCollection", "collect_grid", "collect_records", "read_records",
           "keep_cells", "seed_table", "compare", "parse_seeds",
           "fingerprint_of", "rank", "jsonable", "write_json", "save_figure", "plot_effects", "effects_frame",
           "verdict_line", "GRID_FILE"]

GRID_FILE = "grid.json"
ABILITY_PREFIXES = ("blimp", "ewok", "composite_performance")
COLORS = ("#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


class GridError(ValueError):
    """A grid option, cell folder or record that cannot be used; the message says which and why."""


# --------------------------------------------------------------------------------------------- helpers


def parse_seeds(value: Any) -> tuple[int, ...]:
    """Training seeds from a number of seeds N (>= 1: seeds 0 … N−1) or a list of distinct integers >= 0."""
    if isinstance(value, bool):
        raise ValueError(f"seeds must be a number of seeds (>= 1) or a list of integers, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if value < 1:
            raise ValueError(f"seeds must be a number of seeds (>= 1) or a list of integers, got {value!r}")
        return tuple(range(int(value)))
    try:
        seeds = tuple(value)
    except TypeError:
        raise ValueError(f"seeds must be a number of seeds (>= 1) or a list of integers, got {value!r}") from None
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {list(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds lists a seed twice: {list(seeds)}")
    return tuple(int(s) for s in seeds)


def fingerprint_of(options: Any, condition: Any = None) -> str:
    """16 hex digits of the SHA-256 of ``options`` as sorted JSON (anything else by ``repr``); with a
    ``condition``'s own options, of both."""
    payload = options if condition is None else {"grid": options, "condition": condition}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def rank() -> int:
    """This process's rank under torchrun (0 without a process group)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


# ----------------------------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Cell:
    """One (condition, seed) of a grid and its folder; finished when its ``record`` file exists."""

    condition: str
    seed: int
    role: str
    path: Path
    record: str = "scores.json"

    @property
    def finished(self) -> bool:
        return (self.path / self.record).exists()

    @property
    def name(self) -> str:
        return f"{self.condition}/seed-{self.seed}"


@dataclass
class Grid:
    """Conditions × seeds under ``out_dir``: the cells, their fingerprints, and running them.

    ``options``: what every cell's numbers depend on (JSON-able; seeds and output excluded);
    ``condition_options``: what one condition's cells alone depend on (an intervention's parameters),
    so a grid can gain conditions later. ``roles`` names each condition's role (default ``"condition"``).
    ``record``: the file a finished cell holds; ``info``: the file written when a cell starts.
    Cells are ordered seed by seed, so a stopped grid holds whole seeds first.
    """

    out_dir: str | Path
    conditions: Sequence[str]
    seeds: Any
    options: Any = None
    condition_options: Mapping[str, Any] | None = None
    roles: Mapping[str, str] | None = None
    record: str = "scores.json"
    info: str = "cell.json"
    error: type[Exception] = GridError

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.conditions = tuple(self.conditions)
        self.seeds = parse_seeds(self.seeds)
        if not self.conditions or len(set(self.conditions)) != len(self.conditions):
            raise ValueError(f"conditions must be distinct names, got {list(self.conditions)}")
        if self.record == self.info:
            raise ValueError(f"record and info must be different files, got {self.record!r} twice")
        self.condition_options = dict(self.condition_options or {})
        self.roles = dict(self.roles or {})

    @property
    def fingerprint(self) -> str:
        """The hash of ``options``: equal for every cell of the grid."""
        return fingerprint_of(self.options)

    def cell_fingerprint(self, condition: str) -> str:
        """The grid's fingerprint, or with the condition's own options the hash of both."""
        own = self.condition_options.get(condition)
        return self.fingerprint if own is None else fingerprint_of(self.options, own)

    def cells(self) -> list[Cell]:
        """Every cell, seed by seed (its index is the CLI's ``--cell I``)."""
        root = self.out_dir / "cells"
        return [Cell(c, s, self.roles.get(c, "condition"), root / c / f"seed-{s}", self.record)
                for s in self.seeds for c in self.conditions]

    def select(self, indices: Iterable[int] | None = None) -> list[Cell]:
        """The cells at ``indices`` (all when None); an index out of range is refused."""
        grid = self.cells()
        if indices is None:
            return grid
        indices = list(indices)
        bad = [i for i in indices if not 0 <= i < len(grid)]
        if bad:
            raise self.error(f"cell index {bad[0]} is out of range: this grid has {len(grid)} cells "
                             f"(0-{len(grid) - 1}); see --list-cells")
        return [grid[i] for i in indices]

    def listing(self) -> list[str]:
        """``index, name, finished or to run, folder`` of every cell, one tab-separated line each."""
        return [f"{i}\t{c.name}\t{'finished' if c.finished else 'to run'}\t{c.path}" for i, c in enumerate(self.cells())]

    def check(self, cells: Sequence[Cell]) -> None:
        """Refuse ``grid.json`` or any cell folder written with other options, before any work."""
        self._check_grid_file()
        self._check_cells(cells)

    def _check_cells(self, cells: Sequence[Cell]) -> None:
        for cell in cells:
            for name in (cell.record, self.info):
                path = cell.path / name
                if not path.exists():
                    continue
                seen = _read_json(path, self.error).get("fingerprint")
                mine = self.cell_fingerprint(cell.condition)
                if seen is not None and seen != mine:
                    raise self.error(f"cell folder {cell.path} was run with other options (fingerprint {seen}, now "
                                     f"{mine}); give another output folder or delete that folder")
                break

    def _check_grid_file(self) -> None:
        path = self.out_dir / GRID_FILE
        if not path.exists():
            return
        options, conditions = _recorded_options(_read_json(path, self.error))
        if options is None:
            return
        mine = _plain(self.options)
        clash = ([k for k in sorted(set(mine) | set(options)) if mine.get(k) != options.get(k)]
                 if isinstance(mine, dict) and isinstance(options, dict) else ([] if mine == options else ["options"]))
        clash += [f"conditions/{c}" for c, o in _plain(self.condition_options).items()
                  if c in conditions and conditions[c] != o]
        if clash:
            raise self.error(f"{self.out_dir} holds a grid made with other options ({', '.join(clash)}); "
                             "give another output folder or remove it")

    def write_grid_file(self, extra: Mapping[str, Any] | None = None) -> None:
        """``grid.json``: the options, every condition's options seen so far, the cells and ``extra``."""
        path = self.out_dir / GRID_FILE
        conditions = {}
        if path.exists():
            conditions = _recorded_options(_read_json(path, self.error))[1]
        conditions.update(_plain(self.condition_options))
        payload = {**(extra or {}), "fingerprint": self.fingerprint, "options": _plain(self.options),
                   "condition_options": conditions, "cells": [c.name for c in self.cells()]}
        write_json(path, payload)

    def resume_line(self, chosen: Sequence[Cell]) -> str:
        """What a re-run finds: ``resuming: N of M cells already done in FOLDER`` (and the cells started but unfinished)."""
        done = sum(c.finished for c in chosen)
        started = sum(not c.finished and (c.path / self.info).exists() for c in chosen)
        line = f"resuming: {done} of {len(chosen)} cells already done in {self.out_dir}"
        if started:
            line += f"; {started} started, continuing from its last checkpoint (if one was saved)"
        return line

    def _stamp(self, condition: str) -> dict:
        """The fingerprint(s) a cell's files carry: its own, and the grid's where a condition has options of its own."""
        own = self.condition_options.get(condition) is not None
        return {"fingerprint": self.cell_fingerprint(condition), **({"grid_fingerprint": self.fingerprint} if own else {})}

    def start(self, cell: Cell, info: Mapping[str, Any] | None = None) -> dict:
        """Write the cell's info file (what it is and its fingerprint; rank 0 only); returns it."""
        record = {"condition": cell.condition, "role": cell.role, "seed": cell.seed, **(info or {}),
                  **self._stamp(cell.condition)}
        if rank() == 0:
            write_json(cell.path / self.info, record)
        return record

    def finish(self, cell: Cell, record: Mapping[str, Any]) -> dict:
        """Write the cell's record with its fingerprint(s) (rank 0 only); returns it."""
        record = {**record, **self._stamp(cell.condition)}
        if rank() == 0:
            write_json(cell.path / cell.record, record)
        return record

    def run(self, body: Callable[[Cell], Mapping[str, Any] | None], indices: Iterable[int] | None = None, *,
            info: Callable[[Cell], Mapping[str, Any]] | None = None,
            done: Callable[[int, int, Cell, dict], None] | None = None,
            after: Callable[[Cell], None] | None = None, extra: Mapping[str, Any] | None = None) -> bool:
        """Run the chosen cells (all by default) that are not finished: ``body(cell)`` returns the cell's
        record (None on a torchrun rank other than 0), which is written last. A grid's own checks before the
        first write go before this call (after :meth:`check`); ``info(cell)`` adds to the cell's info file;
        ``done(k, n, cell, record)`` reports progress; ``after(cell)`` tidies a finished cell (its
        checkpoints). Returns whether every cell of the grid is finished."""
        chosen = self.select(indices)
        self.check(chosen)
        todo = [c for c in chosen if not c.finished]
        if rank() == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.write_grid_file(extra)
            if len(todo) < len(chosen) or any((c.path / self.info).exists() for c in todo):
                print(self.resume_line(chosen), flush=True)
        for k, cell in enumerate(todo, 1):
            record = self.run_one(cell, body, info=info, after=after)
            if record is not None and done is not None:
                done(k, len(todo), cell, record)
        return all(c.finished for c in self.cells())

    def run_one(self, cell: Cell, body: Callable[[Cell], Mapping[str, Any] | None], *,
                info: Callable[[Cell], Mapping[str, Any]] | None = None,
                after: Callable[[Cell], None] | None = None) -> dict | None:
        """One cell: its record if finished; else its info file, ``body(cell)``, its record (written last)
        and ``after(cell)``. None on a torchrun rank other than 0 (which only trains)."""
        self._check_cells([cell])
        if cell.finished:
            return _read_json(cell.path / cell.record, self.error)
        self.start(cell, info(cell) if info is not None else None)
        record = body(cell)
        if record is None or rank() != 0:
            return None
        record = self.finish(cell, record)
        if after is not None:
            after(cell)
        return record


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (how ``grid.json`` holds it), to compare with what is there."""
    return json.loads(json.dumps(value, default=repr))


def _read_json(path: Path, error: type[Exception] = GridError) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise error(f"{path} is not valid JSON ({err.msg}, line {err.lineno})") from None


def _recorded_options(grid: Mapping[str, Any]) -> tuple[Any, dict]:
    """``(options, condition options)`` a ``grid.json`` was written with; ``(None, {})`` when it records
    none (a sandbox grid written before the engine, whose cells carry their fingerprints). A bias-transfer
    ``grid.json`` written before the engine kept them as one dict, its interventions under ``interventions``."""
    if "options" in grid:
        return grid["options"], dict(grid.get("condition_options") or {})
    old = grid.get("fingerprint")
    if isinstance(old, dict):
        return {k: v for k, v in old.items() if k != "interventions"}, dict(old.get("interventions") or {})
    return None, {}


# --------------------------------------------------------------------------------------------- collect


def read_records(out_dir: str | Path, record: str = "scores.json", *, what: str = "grid",
                 error: type[Exception] = GridError) -> tuple[list[dict], list[str]]:
    """``(records, unfinished)`` of the cells under ``out_dir``: each finished cell's record with
    ``_path``, ``_condition`` and ``_seed`` (from its folder), and the names of cells started or listed
    in ``grid.json`` but unfinished. Cells written with different grid options are refused."""
    out = Path(out_dir)
    root = out / "cells"
    if not root.is_dir():
        raise FileNotFoundError(f"{out} holds no cells/ folder: is it a {what} output folder?")
    done, unfinished = [], []
    for folder in sorted(p for p in root.glob("*/seed-*") if p.is_dir()):
        name = f"{folder.parent.name}/{folder.name}"
        if not (folder / record).exists():
            unfinished.append(name)
            continue
        r = _read_json(folder / record, error)
        r["_path"], r["_condition"], r["_seed"] = folder, folder.parent.name, int(folder.name.split("-", 1)[1])
        done.append(r)
    grid = out / GRID_FILE
    if grid.exists():  # cells the grid lists that never started
        have = {f"{r['_condition']}/seed-{r['_seed']}" for r in done} | set(unfinished)
        unfinished += [c for c in _read_json(grid, error).get("cells", []) if c not in have]
    if not done:
        raise error(f"{out}: no finished cell (no cells/*/seed-*/{record})")
    by: dict[str, list[str]] = {}
    for r in done:
        key = r.get("grid_fingerprint", r.get("fingerprint"))
        if key is not None:
            by.setdefault(key, []).append(f"{r['_condition']}/seed-{r['_seed']}")
    if len(by) > 1:
        detail = "; ".join(f"{k}: {', '.join(v[:3])}" for k, v in by.items())
        raise error(f"{out}: cells were run with different options and cannot be compared ({detail})")
    return done, sorted(set(unfinished))


@dataclass
class GridCollection:
    """What :func:`collect_grid` read and computed: records, per-seed values, the seed table and the effects."""

    records: list[dict]
    missing: list[str]
    conditions: list[str]
    values: pd.DataFrame          # long: condition, seed, metric, value
    table: pd.DataFrame           # long: condition, metric, mean, low, high, n (t interval over seeds)
    effects: list[Effect] = field(default_factory=list)


def seed_table(values: pd.DataFrame, bounds: Callable[[str], tuple[float, float] | None] | None = None,
               level: float = LEVEL) -> pd.DataFrame:
    """condition × metric: the mean of the finite per-seed values with its t interval (clipped to the metric's
    ``bounds(metric)`` where given) and ``n`` seeds; in order of first appearance; a group with no finite
    value keeps a row with NaN and n = 0."""
    cols = ["condition", "metric", "mean", "low", "high", "n"]
    if values.empty:
        return pd.DataFrame(columns=cols)
    keys = values[["condition", "metric"]].drop_duplicates()
    finite = values[np.isfinite(values["value"].to_numpy(dtype=float))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one seed: NaN interval, said where it is shown
        agg = (aggregate_seeds(finite, "value", ["condition", "metric"], level,
                               bounds=(lambda key: bounds(key[1])) if bounds is not None else None)
               if not finite.empty else pd.DataFrame(columns=["condition", "metric", "mean", "low", "high", "n"]))
    table = keys.merge(agg[cols], on=["condition", "metric"], how="left")
    table["n"] = table["n"].fillna(0).astype(int)
    return table.reset_index(drop=True)[cols]


def collect_grid(out_dir: str | Path, *, metrics: Callable[[dict], Mapping[str, Any]], record: str = "scores.json",
                 cells: Sequence[str] | None = None, what: str = "grid", error: type[Exception] = GridError,
                 **options: Any) -> GridCollection:
    """Read the finished cells under ``out_dir`` (:func:`read_records`; ``cells`` keeps only those) and
    compute the table and the effects (:func:`collect_records`, which ``options`` go to)."""
    records, missing = read_records(out_dir, record, what=what, error=error)
    if cells is not None:
        records, missing = keep_cells(records, missing, cells, out_dir, error)
    return collect_records(records, missing, metrics=metrics, **options)


def keep_cells(records: list[dict], missing: list[str], cells: Sequence[str], out_dir: str | Path,
               error: type[Exception] = GridError) -> tuple[list[dict], list[str]]:
    """Only the records and missing cells named in ``cells`` (``"<condition>/seed-<k>"``)."""
    wanted = set(cells)
    records = [r for r in records if f"{r['_condition']}/seed-{r['_seed']}" in wanted]
    if not records:
        raise error(f"{out_dir}: none of the cells {sorted(wanted)[:4]}... is finished")
    return records, [m for m in missing if m in wanted]


def collect_records(records: list[dict], missing: list[str], *, metrics: Callable[[dict], Mapping[str, Any]],
                    items: Callable[[dict, Sequence[str]], Mapping[str, np.ndarray]] | None = None,
                    conditions: Sequence[str] | None = None, reference: str = "baseline",
                    comparisons: Sequence[tuple[str, str]] = (),
                    effect_metrics: Callable[[list[str]], Sequence[str]] | None = None,
                    bounds: Callable[[str], tuple[float, float] | None] | None = None,
                    n_resamples: int = 1999, level: float = LEVEL) -> GridCollection:
    """The table and the effects of records read by :func:`read_records`.

    ``metrics(record)``: the cell's metric values (non-numbers are skipped); ``items(record, metrics)``:
    per-item values of those metrics (for the item-paired interval). ``conditions``: their order (default:
    as found). Every condition is compared with ``reference`` (when present), and each ``(condition, other)``
    of ``comparisons`` too, on ``effect_metrics(available)`` (default: all), paired by seed (and item).
    ``bounds(metric)`` clips seed intervals to what the metric can take.
    """
    found = list(dict.fromkeys(r["_condition"] for r in records))
    order = [c for c in (conditions or found) if c in found]
    rank_of = {c: i for i, c in enumerate(order)}
    rows = [{"condition": r["_condition"], "seed": r["_seed"], "metric": m, "value": float(v)}
            for r in records if r["_condition"] in rank_of for m, v in metrics(r).items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)]
    values = pd.DataFrame(rows, columns=["condition", "seed", "metric", "value"])
    values = values.sort_values(["condition", "seed", "metric"], key=lambda s: s.map(rank_of) if s.name == "condition"
                                else s).reset_index(drop=True)
    table = seed_table(values, bounds, level)
    available = list(dict.fromkeys(values["metric"]))
    chosen = list(effect_metrics(available)) if effect_metrics is not None else available
    per_item = {}
    if items is not None:
        for r in records:
            for m, v in items(r, chosen).items():
                per_item[(r["_condition"], r["_seed"], m)] = v
    pairs = [(c, reference) for c in order if c != reference and reference in order]
    pairs += [(c, o) for c, o in comparisons if c in order and o in order]
    effects = [e for c, o in pairs for e in compare(values, per_item, c, o, chosen, bounds=bounds,
                                                    n_resamples=n_resamples, level=level)]
    return GridCollection(records, missing, order, values, table, effects)


def compare(values: pd.DataFrame, items: Mapping[tuple[str, int, str], np.ndarray], condition: str, reference: str,
            metrics: Sequence[str], *, bounds: Callable[[str], tuple[float, float] | None] | None = None,
            n_resamples: int = 1999, level: float = LEVEL) -> list[Effect]:
    """``condition − reference`` on each metric, paired by seed (and by item where ``items`` has both)."""
    found = []
    for m in metrics:
        part = values[values["metric"] == m]
        ref = _finite(part, reference)
        x = _finite(part, condition)
        if not set(ref) & set(x):
            continue
        ri = {s: items[(reference, s, m)] for s in ref if (reference, s, m) in items}
        xi = {s: items[(condition, s, m)] for s in x if (condition, s, m) in items}
        found.append(estimate_effect(ref, x, baseline_items=ri or None, condition_items=xi or None, name=condition,
                                     metric=m, reference=reference, n_resamples=n_resamples, level=level,
                                     bounds=bounds(m) if bounds is not None else None))
    return found


def _finite(part: pd.DataFrame, condition: str) -> dict[int, float]:
    rows = part[part["condition"] == condition]
    return {int(s): float(v) for s, v in zip(rows["seed"], rows["value"]) if np.isfinite(v)}


# --------------------------------------------------------------------------------------- presentation


def _fmt(x: float, digits: int = 2) -> str:
    return "nan" if not np.isfinite(x) else f"{x:+.{digits}f}"


def verdict_line(effect: Effect, primary: bool = False, digits: int = 2) -> str:
    """The effect in plain words: estimate, both intervals, and whether it is distinguishable from noise."""
    e, iv = effect, effect.seeds
    tag = "PRIMARY " if primary else ""
    head = f"{tag}{e.condition} − {e.reference}, {e.metric}: {_fmt(e.estimate, digits)}"
    if e.n_seeds >= 2:
        head += f", 95% CI over {e.n_seeds} seeds [{_fmt(iv.low, digits)}, {_fmt(iv.high, digits)}] (t-test p = {e.p_seeds:.3g})"
    if e.items is not None:
        head += (f", over {e.items.n} items [{_fmt(e.items.low, digits)}, {_fmt(e.items.high, digits)}] "
                 f"(permutation p = {e.items.p_value:.3g})")
    elif e.n_seeds >= 2:
        head += ", no per-item interval for this metric"
    if e.distinguishable is None:
        tail = "one seed only: seed-to-seed noise is unmeasured, so no verdict (run --seeds 3 or more)"
    elif e.distinguishable:
        tail = "distinguishable from noise"
    else:
        tail = "NOT distinguishable from noise"
    return f"{head} — {tail}."


def effects_frame(effects: Sequence[Effect]) -> pd.DataFrame:
    """One row per effect (:meth:`Effect.to_dict`, without the per-seed dict)."""
    rows = [{k: v for k, v in e.to_dict().items() if k != "per_seed"} for e in effects]
    return pd.DataFrame(rows)


def _is_ability(metric: str) -> bool:
    return metric.startswith(ABILITY_PREFIXES)


def plot_effects(result: Any, path: str | Path) -> Path:
    """The forest plot of ``result.effects`` (condition − reference) on ``result.shown_metrics`` with 95 % intervals.

    One row per metric, each on its own scale (log-odds, percentage points and composites differ),
    bias metrics first, then ability metrics; one marker per condition, filled when distinguishable
    from noise and hollow when not (or one seed only); thick bar = interval over seeds, thin bar =
    interval over items. ``result.primary_metric``'s label is bold.
    """
    by = {(e.label, e.metric): e for e in result.effects}
    conditions = list(dict.fromkeys(e.label for e in result.effects))  # cda, duplication, cda − duplication
    metrics = [m for m in result.shown_metrics if any((c, m) in by for c in conditions)]
    metrics = [m for m in metrics if not _is_ability(m)] + [m for m in metrics if _is_ability(m)]
    if not metrics:
        fig, ax = new_figure(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no effects: the grid has no baseline cells or no other condition", ha="center", va="center")
        save_figure(fig, path)
        return Path(path)
    row_h = 0.28 * max(2, len(conditions)) + 0.3
    fig, axes = new_figure(len(metrics), 1, figsize=(7.5, row_h * len(metrics) + 1.0), squeeze=False)
    for ax, m in zip(axes[:, 0], metrics):
        for k, c in enumerate(conditions):
            e = by.get((c, m))
            if e is None:
                continue
            color = COLORS[k % len(COLORS)]
            if e.items is not None:
                ax.plot([e.items.low, e.items.high], [k, k], color=color, lw=1, alpha=0.8)
            if np.isfinite(e.seeds.low):
                ax.plot([e.seeds.low, e.seeds.high], [k, k], color=color, lw=4, alpha=0.6, solid_capstyle="butt")
            ax.plot([e.estimate], [k], "o", ms=6, color=color, mfc=color if e.distinguishable else "white")
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_ylim(len(conditions) - 0.5, -0.5)
        ax.set_yticks(range(len(conditions)))
        ax.set_yticklabels(conditions, fontsize=7)
        kind = "ability" if _is_ability(m) else "bias"
        ax.set_title(f"{m}  ({kind}{', PRIMARY' if m == result.primary_metric else ''})", fontsize=8, loc="left",
                     fontweight="bold" if m == result.primary_metric else "normal")
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("effect (condition − baseline, or intervention − control), 95 % CI (thick: over seeds, thin: "
                 "over items); filled: distinguishable from noise", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return Path(path)

"""The grid engine on a grid that trains nothing: a new grid needs only a cell body (and how to read its metrics).
Cells, fingerprints and refusal, resume after a failure, one cell at a time, rank-0 writes, collect, the plot."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from babybias.analysis import grid as grid_module
from babybias.analysis.grid import Grid, GridError, collect_grid, parse_seeds, plot_effects, read_records

SRC = Path(grid_module.__file__).resolve().parents[1]
SHIFT = {"baseline": 0.0, "louder": 1.0, "placebo": 0.0}


def noisy(cell) -> dict:
    """A toy cell body: 40 items, each the condition's shift plus the seed's noise (shared by the conditions of a
    seed, as a training seed is) plus the item's own noise; the record holds their mean and the items."""
    seed_noise = np.random.default_rng([cell.seed, 7]).normal(0, 0.5)
    own = np.random.default_rng([cell.seed, list(SHIFT).index(cell.condition)]).normal(0, 1, 40)
    items = SHIFT[cell.condition] + seed_noise + own
    return {"scores": {"y": float(items.mean()), "label": "not a number"}, "items": items.tolist()}


def toy(out, **kw) -> Grid:
    return Grid(out, kw.pop("conditions", ("baseline", "louder", "placebo")), kw.pop("seeds", 3),
                options=kw.pop("options", {"items": 40}), **kw)


def test_a_toy_grid_runs_collects_and_its_numbers_follow_by_hand(tmp_path):
    grid = toy(tmp_path)
    assert [c.name for c in grid.cells()][:4] == ["baseline/seed-0", "louder/seed-0", "placebo/seed-0",
                                                   "baseline/seed-1"]
    assert grid.run(noisy) is True
    result = collect_grid(tmp_path, metrics=lambda r: r["scores"],
                          items=lambda r, metrics: {"y": np.asarray(r["items"])}, n_resamples=499)
    assert set(result.values.metric) == {"y"} and len(result.values) == 9  # the string score is not a metric
    y = {(r["_condition"], r["_seed"]): r["scores"]["y"] for r in result.records}
    row = result.table.set_index(["condition", "metric"]).loc[("louder", "y")]
    v = np.array([y[("louder", s)] for s in range(3)])
    assert row["mean"] == pytest.approx(v.mean()) and row["n"] == 3
    assert row["high"] - row["mean"] == pytest.approx(stats.t.ppf(0.975, 2) * v.std(ddof=1) / np.sqrt(3))
    louder = next(e for e in result.effects if e.condition == "louder")
    d = np.array([y[("louder", s)] - y[("baseline", s)] for s in range(3)])
    assert louder.estimate == pytest.approx(d.mean()) and louder.p_seeds == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert louder.items is not None and louder.items.n == 40 and louder.distinguishable
    placebo = next(e for e in result.effects if e.condition == "placebo")
    assert abs(placebo.estimate) < 0.3 and not placebo.distinguishable
    path = plot_effects(type("R", (), {"effects": result.effects, "shown_metrics": ["y"], "primary_metric": "y"}),
                        tmp_path / "forest.png")
    assert path.stat().st_size > 0


def test_a_failed_cell_resumes_and_finished_cells_are_not_run_again(tmp_path, capsys):
    calls, killed = [], []

    def flaky(cell):
        calls.append(cell.name)
        if cell.name == "louder/seed-1" and not killed:
            killed.append(cell.name)
            raise KeyboardInterrupt("killed")
        return noisy(cell)

    grid = toy(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        grid.run(flaky)
    assert [c.finished for c in grid.cells()] == [True, True, True, True, False, False, False, False, False]
    assert json.loads((tmp_path / "cells/louder/seed-1/cell.json").read_text())["fingerprint"] == grid.fingerprint
    calls.clear()
    assert grid.run(flaky) is True
    assert calls == ["louder/seed-1", "placebo/seed-1", "baseline/seed-2", "louder/seed-2", "placebo/seed-2"]
    assert "resuming: 4 of 9 cells already done" in capsys.readouterr().out


def test_other_options_are_refused_and_new_conditions_and_seeds_are_welcome(tmp_path):
    toy(tmp_path, seeds=1, conditions=("baseline", "louder"), condition_options={"louder": {"gain": 2}}).run(noisy)
    with pytest.raises(GridError, match=r"other options \(items\)"):
        toy(tmp_path, seeds=1, options={"items": 41}).run(noisy)
    with pytest.raises(GridError, match="conditions/louder"):
        toy(tmp_path, seeds=1, conditions=("baseline", "louder"), condition_options={"louder": {"gain": 3}}).run(noisy)
    bigger = toy(tmp_path, seeds=2, condition_options={"louder": {"gain": 2}, "placebo": {"gain": 0}})
    assert bigger.run(noisy)
    saved = json.loads((tmp_path / "grid.json").read_text())
    assert saved["condition_options"] == {"louder": {"gain": 2}, "placebo": {"gain": 0}}
    record = json.loads((tmp_path / "cells/louder/seed-0/scores.json").read_text())
    assert record["grid_fingerprint"] == bigger.fingerprint != record["fingerprint"]
    # one cell folder written with other options is refused too, even without grid.json
    (tmp_path / "grid.json").unlink()
    with pytest.raises(GridError, match="cell folder .*baseline/seed-0 was run with other options"):
        toy(tmp_path, seeds=1, options={"items": 41}).run(noisy)


def test_cells_can_run_one_at_a_time_and_an_index_out_of_range_is_refused(tmp_path):
    grid = toy(tmp_path, seeds=2)
    assert grid.run(noisy, [5]) is False
    assert [c.finished for c in grid.cells()] == [False] * 5 + [True]
    assert grid.listing()[5].split("\t")[:3] == ["5", "placebo/seed-1", "finished"]
    with pytest.raises(GridError, match="cell index 6 is out of range: this grid has 6 cells"):
        grid.run(noisy, [6])
    records, missing = read_records(tmp_path)
    assert len(records) == 1 and len(missing) == 5  # the cells grid.json lists that never started


def test_under_torchrun_every_rank_runs_the_body_and_rank_0_alone_writes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(grid_module, "rank", lambda: 1)
    grid = toy(tmp_path, seeds=1)
    assert grid.run(lambda cell: calls.append(cell.name) or noisy(cell)) is False
    assert len(calls) == 3 and not (tmp_path / "grid.json").exists() and not any(c.finished for c in grid.cells())


def test_collect_refuses_cells_of_different_options(tmp_path):
    toy(tmp_path / "a", seeds=1).run(noisy)
    toy(tmp_path / "b", seeds=1, options={"items": 41}).run(noisy)
    target = tmp_path / "a" / "cells" / "baseline" / "seed-1"
    target.parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "b" / "cells" / "baseline" / "seed-0").rename(target)
    with pytest.raises(GridError, match="different options"):
        collect_grid(tmp_path / "a", metrics=lambda r: r["scores"])
    (target / "scores.json").write_text("{not json")
    with pytest.raises(GridError, match="is not valid JSON"):
        read_records(tmp_path / "a")


@pytest.mark.parametrize("value, expected", [(3, (0, 1, 2)), ([4, 2], (4, 2)), (np.int64(2), (0, 1))])
def test_parse_seeds(value, expected):
    assert parse_seeds(value) == expected


@pytest.mark.parametrize("value, message", [(0, "number of seeds"), (True, "number of seeds"), ([1, 1], "twice"),
                                            ([-1], ">= 0"), ([], "non-empty"), ("ab", ">= 0")])
def test_parse_seeds_refuses(value, message):
    with pytest.raises(ValueError, match=message):
        parse_seeds(value)


def _imports(path: Path, package: str) -> set[str]:
    """The babybias modules a module imports anywhere: at module level, under TYPE_CHECKING, inside functions."""
    module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    if module.endswith(".__init__"):
        module = module[: -len(".__init__")]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (base[: len(base) - node.level + 1] if node.level else []) + (node.module.split(".") if node.module else [])
            target = ".".join(parts)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if (SRC.parent / Path(*sub.split("."))).with_suffix(".py").exists() else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith(package)}


def test_babybias_has_no_import_cycle():
    modules = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = _imports(path, "babybias")
    # importing an enclosing package (its __init__ ran first anyway) is not an edge
    edges = {m: sorted(d for d in deps if d in modules and d != m and not m.startswith(d + "."))
             for m, deps in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in edges[module]:
            if state.get(dep) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(path[path.index(dep):] + [dep])}")
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    assert "babybias.experiment.sandbox" not in modules["babybias.experiment.plots"]


def test_a_bias_transfer_grid_json_written_before_the_engine_still_guards_its_folder(tmp_path):
    """Its options were one dict with the interventions' parameters under ``interventions``."""
    legacy = {"fingerprint": {"items": 40, "interventions": {"louder": {"gain": 2}}}, "primary_metric": "y",
              "task": "toy"}
    (tmp_path / "grid.json").write_text(json.dumps(legacy))
    with pytest.raises(GridError, match=r"other options \(items\)"):
        toy(tmp_path, seeds=1, options={"items": 41}).run(noisy)
    with pytest.raises(GridError, match="conditions/louder"):
        toy(tmp_path, seeds=1, condition_options={"louder": {"gain": 3}}).run(noisy)
    assert toy(tmp_path, seeds=1, condition_options={"louder": {"gain": 2}, "placebo": {"gain": 0}}).run(noisy)
    saved = json.loads((tmp_path / "grid.json").read_text())
    assert saved["condition_options"] == {"louder": {"gain": 2}, "placebo": {"gain": 0}}
    assert saved["options"] == {"items": 40} and saved["fingerprint"] == toy(tmp_path, seeds=1).fingerprint

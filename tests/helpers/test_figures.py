"""Every figure babybias makes goes through helpers.figures (matplotlib's object API): no plotting call switches
the backend, leaves a pyplot figure open, or needs a display; each writes its PNG."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

from babybias.helpers import new_figure, save_figure

SRC = Path(__file__).resolve().parents[2] / "src" / "babybias"
SUBPACKAGES = ("analysis", "corpus", "debias", "downstream", "evaluate", "experiment", "helpers", "models", "train")
PNG = b"\x89PNG\r\n\x1a\n"


def _trajectories(tmp: Path) -> Path:
    from babybias.train import plot_trajectories

    metrics = tmp / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "scores": {"blimp/overall": 50.0 + s}}) + "\n" for s in (2, 4)))
    fig = plot_trajectories(metrics, ["blimp/overall"], out=tmp / "trajectories.png")
    assert isinstance(fig, matplotlib.figure.Figure) and fig.axes[0].get_lines()
    return tmp / "trajectories.png"


def _cca(tmp: Path) -> Path:
    from babybias.analysis import CCASampleSizeWarning, cca_alignment, plot_cca

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    with pytest.warns(CCASampleSizeWarning):
        result = cca_alignment(x, y, n_permutations=20, n_bootstrap=10)
    return plot_cca(result, tmp / "cca.png")


def _correlation(tmp: Path) -> Path:
    from babybias.analysis import plot_correlation

    with pytest.warns(UserWarning, match="only n=4"):
        return plot_correlation([1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 4.0, 3.0], tmp / "correlation.png", n_resamples=20)


def _by_seed(tmp: Path) -> Path:
    from babybias.analysis import COLUMNS, plot_trajectories_by_seed

    rows = [("r", seed, step, step * 10, "ck", "crows_pairs", "overall", 50.0 + seed + step)
            for seed in (0, 1) for step in (1, 2)]
    fig = plot_trajectories_by_seed(pd.DataFrame(rows, columns=COLUMNS), ["crows_pairs/overall"], tmp / "by_seed.png")
    assert isinstance(fig, matplotlib.figure.Figure)
    return tmp / "by_seed.png"


def _effects(tmp: Path) -> Path:
    from babybias.experiment import plot_effects

    effect = SimpleNamespace(label="cda", metric="crows_pairs/overall", estimate=-1.0, items=None,
                             seeds=SimpleNamespace(low=-2.0, high=0.5), distinguishable=False)
    result = SimpleNamespace(effects=[effect], shown_metrics=["crows_pairs/overall"], primary_metric="crows_pairs/overall")
    return plot_effects(result, tmp / "effects.png")


def _transfer(tmp: Path) -> Path:
    from babybias.downstream.transfer import TransferResult, plot_comparison

    values = pd.DataFrame({"intervention": ["baseline", "baseline", "scrub", "scrub"], "metric": "gap_rms",
                           "seed": [0, 1, 0, 1], "estimate": [0.3, 0.32, 0.2, 0.22], "low": [0.2, 0.22, 0.1, 0.12],
                           "high": [0.4, 0.42, 0.3, 0.32]})
    table = pd.DataFrame({"intervention": ["baseline", "scrub"], "metric": "gap_rms", "mean": [0.31, 0.21],
                          "low": [0.2, 0.1], "high": [0.42, 0.32]})
    result = TransferResult(tmp, "bios", "gap_rms", values, table, pd.DataFrame(), pd.DataFrame())
    return plot_comparison(result, tmp / "comparison.png")


PLOTS = [_trajectories, _cca, _correlation, _by_seed, _effects, _transfer]


def test_no_plot_switches_the_backend_or_leaves_a_pyplot_figure(tmp_path, monkeypatch):
    switched = []
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: switched.append(a))
    for name in SUBPACKAGES:
        importlib.import_module(f"babybias.{name}")
    backend = matplotlib.get_backend()
    for plot in PLOTS:
        path = plot(tmp_path)
        assert Path(path).read_bytes()[:8] == PNG, plot.__name__
    import matplotlib.pyplot as plt

    assert switched == [] and matplotlib.get_backend() == backend
    assert plt.get_fignums() == []


def test_new_figure_and_save_figure(tmp_path):
    fig, axes = new_figure(1, 2, figsize=(4, 2), squeeze=False)
    assert isinstance(fig, matplotlib.figure.Figure) and axes.shape == (1, 2)
    axes[0, 0].plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "sub" / "f.png", dpi=50)
    assert path.read_bytes()[:8] == PNG and [p.name for p in path.parent.iterdir()] == ["f.png"]  # no temporary left


def test_no_source_file_uses_pyplot_or_switches_the_backend():
    forbidden = re.compile(r"matplotlib\.use\(|import matplotlib\.pyplot|from matplotlib import pyplot")
    offenders = [f"{p.relative_to(SRC)}:{n}" for p in sorted(SRC.rglob("*.py"))
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if forbidden.search(line)]
    assert offenders == []

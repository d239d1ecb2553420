"""Correlation across checkpoints or models (e.g. bias score vs. ability score): Pearson or Spearman
with scipy's p-value, a paired bootstrap interval over (x, y) pairs, a Fisher interval for Pearson,
and a scatter plot with the least-squares fit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

from ..helpers.figures import new_figure, save_figure
from .stats import LEVEL, Interval, as_finite_1d, check_level, no_spread, run_bootstrap, warn_small_n

__all__ = ["Correlation", "correlate", "plot_correlation"]

METHODS = ("pearson", "spearman")


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its two-sided p-value and confidence intervals.

    ``low``/``high``: paired bootstrap interval (``ci_method``); ``fisher_low``/``fisher_high``: the
    Fisher z interval of ``scipy.stats.pearsonr(...).confidence_interval()`` (Pearson only, else NaN).
    """

    method: str
    estimate: float
    p_value: float
    low: float
    high: float
    level: float
    n: int
    ci_method: str
    p_method: str
    fisher_low: float = float("nan")
    fisher_high: float = float("nan")

    @property
    def interval(self) -> Interval:
        """The bootstrap interval as an :class:`Interval`."""
        return Interval(self.estimate, self.low, self.high, self.level, self.n, self.ci_method)

    def to_dict(self) -> dict:
        """Plain data (floats, ints, strings) for printing or a DataFrame row."""
        return asdict(self)

    def label(self) -> str:
        """Short text, e.g. ``Pearson r = 0.81 [0.52, 0.93], p = 0.0012, n = 12``."""
        sym = "r" if self.method == "pearson" else "ρ"
        return (f"{self.method.capitalize()} {sym} = {self.estimate:.2f} [{self.low:.2f}, {self.high:.2f}], "
                f"p = {self.p_value:.2g}, n = {self.n}")


def _pearson(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Pearson r along ``axis`` (vectorised for the bootstrap); NaN where x or y is constant."""
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=axis) / np.sqrt((xc ** 2).sum(axis=axis) * (yc ** 2).sum(axis=axis))
    return np.clip(r, -1.0, 1.0)


def _spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman ρ along ``axis``: Pearson r of average ranks (ties get their mean rank, as scipy)."""
    return _pearson(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis), axis=axis)


def correlate(x: Sequence[float], y: Sequence[float], method: str = "pearson", *, n_resamples: int = 9999,
              level: float = LEVEL, ci_method: str = "BCa", seed: int = 0) -> Correlation:
    """Pearson or Spearman correlation of paired values, scipy's p-value, and a paired bootstrap interval.

    p-value: ``scipy.stats.pearsonr`` (t test, exact for bivariate normal data) or ``spearmanr``
    (t approximation). Interval: ``scipy.stats.bootstrap(paired=True)`` resampling (x, y) pairs.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    xs = as_finite_1d(x, "x", min_n=3)
    ys = as_finite_1d(y, "y", min_n=3)
    if xs.size != ys.size:
        raise ValueError(f"x and y must have equal lengths (paired values), got {xs.size} and {ys.size}")
    if no_spread(xs) or no_spread(ys):
        raise ValueError(f"{'x' if no_spread(xs) else 'y'} is constant: the correlation is undefined")
    level = check_level(level)
    warn_small_n(xs.size, "correlate")
    fisher = (float("nan"), float("nan"))
    if method == "pearson":
        res = stats.pearsonr(xs, ys)
        ci = res.confidence_interval(confidence_level=level)
        fisher = (float(ci.low), float(ci.high))
        stat, p_method = _pearson, "pearsonr t-test"
    else:
        res = stats.spearmanr(xs, ys)
        stat, p_method = _spearman, "spearmanr t-approximation"
    low, high, used = run_bootstrap((xs, ys), stat, paired=True, vectorized=True, n_resamples=n_resamples,
                                    level=level, method=ci_method, seed=seed)
    return Correlation(method, float(res.statistic), float(res.pvalue), low, high, level, int(xs.size), used,
                       p_method, *fisher)


def plot_correlation(x: Sequence[float], y: Sequence[float], path: str | Path, *,
                     labels: Sequence[str] | None = None, method: str = "pearson", xlabel: str = "x",
                     ylabel: str = "y", title: str | None = None, result: Correlation | None = None,
                     n_resamples: int = 9999, seed: int = 0) -> Path:
    """Scatter of (x, y) with the least-squares line (``scipy.stats.linregress``) and the correlation
    with its interval in the title; writes ``path`` (format from its suffix) and returns it."""
    xs = as_finite_1d(x, "x", min_n=3)
    ys = as_finite_1d(y, "y", min_n=3)
    if labels is not None and len(labels) != xs.size:
        raise ValueError(f"labels must have one entry per point ({xs.size}), got {len(labels)}")
    if result is None:
        result = correlate(xs, ys, method, n_resamples=n_resamples, seed=seed)
    fig, ax = new_figure(figsize=(5, 4))  # no pyplot: no global figure state, no GUI backend needed
    fig.set_layout_engine("constrained")
    ax.scatter(xs, ys, color="C0", zorder=3)
    fit = stats.linregress(xs, ys)
    grid = np.linspace(xs.min(), xs.max(), 50)
    ax.plot(grid, fit.intercept + fit.slope * grid, color="C1",
            label=f"OLS fit: y = {fit.slope:.3g}·x + {fit.intercept:.3g}")
    for i, text in enumerate(labels or []):
        ax.annotate(str(text), (xs[i], ys[i]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}\n{result.label()}" if title else result.label(), fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)

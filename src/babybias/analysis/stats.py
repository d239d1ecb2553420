"""Statistics used everywhere in ``babybias.analysis``: bootstrap intervals over items, paired
comparisons of two systems on the same items, and means across seeds with t intervals.

Every function is pure (no global state): randomness comes from an explicit ``seed`` turned into
``np.random.default_rng(seed)``. Results are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

SMALL_N = 10  # below this many items a bootstrap interval is wide and undercovers: warn
BATCH_ELEMENTS = 2_000_000  # resampled values held at once (bounds memory for many items × many resamples)

__all__ = ["Interval", "PairedDifference", "bootstrap_ci", "paired_bootstrap", "mean_interval", "aggregate_seeds"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (``low``, ``high``) at ``level``, from ``n`` values."""

    estimate: float
    low: float
    high: float
    level: float
    n: int
    method: str

    def to_dict(self) -> dict:
        """Plain data (floats, ints, strings) for printing or a DataFrame row."""
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference(Interval):
    """``statistic(b) − statistic(a)`` over paired items (an :class:`Interval`), with a two-sided p-value."""

    p_value: float
    p_method: str
    statistic_a: float
    statistic_b: float

    @property
    def interval(self) -> Interval:
        """The difference as a plain :class:`Interval`."""
        return Interval(self.estimate, self.low, self.high, self.level, self.n, self.method)


# --------------------------------------------------------------------------- validation helpers


def as_finite_1d(values, name: str, min_n: int = 1) -> np.ndarray:
    """``values`` as a 1-D float array; ValueError naming ``name`` if not 1-D, too short or not finite."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_n:
        raise ValueError(f"{name} needs at least {min_n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(arr)))} non-finite values (NaN or inf)")
    return arr


def check_level(level: float) -> float:
    """``level`` if it lies strictly between 0 and 1, else ValueError."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    return float(level)


def warn_small_n(n: int, what: str) -> None:
    """Warn that an interval from fewer than ``SMALL_N`` values is wide and may undercover."""
    if n < SMALL_N:
        warnings.warn(f"{what} from only n={n} values: the interval is wide and a bootstrap one may undercover",
                      stacklevel=3)


def _rng_kwargs(func: Callable, seed: int) -> dict:
    """``rng=`` (scipy ≥ 1.15) or ``random_state=`` (older scipy) holding ``default_rng(seed)``."""
    key = "rng" if "rng" in inspect.signature(func).parameters else "random_state"
    return {key: np.random.default_rng(seed)}


def _takes_axis(statistic: Callable) -> bool:
    """Whether ``statistic(x, axis=-1)`` reduces the last axis (so scipy can vectorise it)."""
    try:
        out = np.asarray(statistic(np.arange(6.0).reshape(2, 3), axis=-1))
    except TypeError:
        return False
    return out.shape == (2,)


def batch_size(n: int) -> int:
    """Resamples per batch so that a batch holds about ``BATCH_ELEMENTS`` values of ``n`` items."""
    return max(1, BATCH_ELEMENTS // max(1, n))


def run_bootstrap(data: tuple[np.ndarray, ...], statistic: Callable, *, paired: bool, vectorized: bool,
                  n_resamples: int, level: float, method: str, seed: int) -> tuple[float, float, str]:
    """``scipy.stats.bootstrap`` interval; if it is NaN (degenerate resamples or data), a percentile
    interval over the finite resamples instead, with a warning saying how many were dropped."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(data, statistic, paired=paired, vectorized=vectorized, n_resamples=n_resamples,
                              confidence_level=level, method=method, batch=batch_size(data[0].size),
                              **_rng_kwargs(stats.bootstrap, seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if np.isfinite(low) and np.isfinite(high):
        return low, high, f"bootstrap-{method}"
    dist = np.asarray(res.bootstrap_distribution, dtype=float)
    finite = dist[np.isfinite(dist)]
    if finite.size == 0:
        warnings.warn("every bootstrap resample gave a non-finite statistic: the interval is NaN", stacklevel=3)
        return float("nan"), float("nan"), f"bootstrap-{method}"
    alpha = (1 - level) / 2
    low, high = (float(q) for q in np.quantile(finite, [alpha, 1 - alpha]))
    dropped = dist.size - finite.size
    why = (f"{dropped} of {dist.size} resamples gave a non-finite statistic" if dropped
           else "every resample gave the same statistic")
    warnings.warn(f"bootstrap {method} interval undefined ({why}): percentile interval over the finite "
                  f"resamples instead", stacklevel=3)
    return low, high, "bootstrap-percentile (fallback)"


# --------------------------------------------------------------------------- public functions


def bootstrap_ci(values: Sequence[float], statistic: Callable = np.mean, *, n_resamples: int = 9999,
                 level: float = 0.95, method: str = "BCa", seed: int = 0) -> Interval:
    """Bootstrap confidence interval of ``statistic(values)`` over items (``scipy.stats.bootstrap``)."""
    x = as_finite_1d(values, "values", min_n=2)
    level = check_level(level)
    warn_small_n(x.size, "bootstrap_ci")
    vectorized = _takes_axis(statistic)
    stat = statistic if vectorized else (lambda s: statistic(s))
    low, high, used = run_bootstrap((x,), stat, paired=False, vectorized=vectorized, n_resamples=n_resamples,
                                    level=level, method=method, seed=seed)
    return Interval(float(statistic(x)), low, high, level, int(x.size), used)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], statistic: Callable = np.mean, *,
                     n_resamples: int = 9999, level: float = 0.95, method: str = "BCa", seed: int = 0,
                     p_method: str = "permutation") -> PairedDifference:
    """``statistic(b) − statistic(a)`` over the same items, with a paired bootstrap interval and a p-value.

    The interval resamples items (pairs kept together; ``scipy.stats.bootstrap(paired=True)``). The
    two-sided p-value tests "no difference": ``p_method="permutation"`` swaps a and b within random
    items (sign flips of the differences; ``scipy.stats.permutation_test(permutation_type="samples")``,
    exact when 2**n ≤ n_resamples); ``p_method="bootstrap"`` is twice the share of the bootstrap
    distribution, shifted to the null, that lies beyond the observed difference.
    """
    x = as_finite_1d(a, "a", min_n=2)
    y = as_finite_1d(b, "b", min_n=2)
    if x.size != y.size:
        raise ValueError(f"a and b must have equal lengths (paired items), got {x.size} and {y.size}")
    if p_method not in ("permutation", "bootstrap"):
        raise ValueError(f"p_method must be 'permutation' or 'bootstrap', got {p_method!r}")
    level = check_level(level)
    warn_small_n(x.size, "paired_bootstrap")
    vectorized = _takes_axis(statistic)
    if vectorized:
        def diff(s, t, axis=-1):
            return statistic(t, axis=axis) - statistic(s, axis=axis)
    else:
        def diff(s, t):
            return statistic(t) - statistic(s)
    estimate = float(statistic(y) - statistic(x))
    low, high, used = run_bootstrap((x, y), diff, paired=True, vectorized=vectorized, n_resamples=n_resamples,
                                    level=level, method=method, seed=seed)
    if p_method == "permutation":
        res = stats.permutation_test((x, y), diff, permutation_type="samples", vectorized=vectorized,
                                     n_resamples=n_resamples, alternative="two-sided", batch=batch_size(x.size),
                                     **_rng_kwargs(stats.permutation_test, seed))
        p = float(res.pvalue)
        p_name = "sign-flip permutation" + (" (exact)" if 2 ** x.size <= n_resamples else "")
    else:
        p = bootstrap_p_value(x, y, diff, vectorized=vectorized, n_resamples=n_resamples, seed=seed)
        p_name = "bootstrap (null-shifted)"
    return PairedDifference(estimate, low, high, level, int(x.size), used, p, p_name,
                            float(statistic(x)), float(statistic(y)))


def bootstrap_p_value(x: np.ndarray, y: np.ndarray, diff: Callable, *, vectorized: bool, n_resamples: int,
                      seed: int) -> float:
    """Two-sided p of "diff = 0": share of |θ* − θ̂| ≥ |θ̂| over paired resamples, (k + 1) / (B + 1)."""
    rng = np.random.default_rng(seed)
    observed = diff(x, y)
    parts, done, step = [], 0, batch_size(x.size)
    while done < n_resamples:
        idx = rng.integers(0, x.size, size=(min(step, n_resamples - done), x.size))
        parts.append(diff(x[idx], y[idx], axis=-1) if vectorized else np.array([diff(x[i], y[i]) for i in idx]))
        done += idx.shape[0]
    boot = np.concatenate(parts)
    extreme = np.sum(np.abs(boot - observed) >= abs(observed) - 1e-12 * max(1.0, abs(observed)))
    return float((extreme + 1) / (n_resamples + 1))


def check_bounds(bounds: tuple[float, float] | None, x: np.ndarray) -> tuple[float, float] | None:
    """``bounds`` (low < high) if every value lies within them (to rounding: 1e-9 of their width), else
    ValueError; None passes through."""
    if bounds is None:
        return None
    lo, hi = (float(v) for v in bounds)
    if not lo < hi:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
    slack = 1e-9 * (hi - lo)
    outside = x[(x < lo - slack) | (x > hi + slack)]
    if outside.size:
        raise ValueError(f"{outside.size} value(s) lie outside bounds {bounds}, e.g. {outside[0]!r}")
    return lo, hi


def mean_interval(values: Sequence[float], level: float = 0.95,
                  bounds: tuple[float, float] | None = None) -> Interval:
    """Mean with its t interval, mean ± t_{n−1} · sd/√n (``scipy.stats.t.interval`` with ``scipy.stats.sem``).

    For means across seeds: the t interval assumes the per-seed values are roughly normal and is exact
    then, whatever n. With one value there is no spread to estimate: the interval is NaN, with a warning.
    ``bounds=(low, high)``, the range the metric can take (an AUC's (0, 1)), clips the interval to it
    (``method`` "t, clipped to [low, high]"): a few seeds near a bound otherwise print an impossible end.
    """
    x = as_finite_1d(values, "values", min_n=1)
    level = check_level(level)
    bounds = check_bounds(bounds, x)
    method = "t" if bounds is None else f"t, clipped to [{bounds[0]:g}, {bounds[1]:g}]"
    mean = float(np.mean(x))
    if x.size < 2:
        warnings.warn("mean_interval from a single value: no interval (NaN); run more seeds", stacklevel=2)
        return Interval(mean, float("nan"), float("nan"), level, 1, method)
    sem = float(stats.sem(x))
    if sem == 0:
        return Interval(mean, mean, mean, level, int(x.size), method)
    low, high = stats.t.interval(level, df=x.size - 1, loc=mean, scale=sem)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(mean, float(low), float(high), level, int(x.size), method)


def aggregate_seeds(df: pd.DataFrame, value: str = "value", by: Sequence[str] | str | None = None,
                    level: float = 0.95, bounds: tuple[float, float] | None = None) -> pd.DataFrame:
    """One row per group of ``by``: mean, sd, n, low, high of ``value`` across its rows (seeds), t interval.

    Each row of ``df`` is one run (one seed); ``by`` names the columns that identify a condition
    (e.g. ``["corpus", "checkpoint"]``). Groups with a single seed get NaN sd/low/high and one warning.
    ``bounds``: the value's range, to clip each interval to (see :func:`mean_interval`).
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    by = [by] if isinstance(by, str) else list(by or [])
    missing = [c for c in [value, *by] if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks the column(s) {missing} (value={value!r}, by={by!r})")
    if df.empty:
        raise ValueError("df has no rows")
    vals = pd.to_numeric(df[value], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"column {value!r} has {int(np.sum(~np.isfinite(vals)))} non-numeric or non-finite values")
    level = check_level(level)
    check_bounds(bounds, vals)
    groups = df.groupby(by, sort=True, dropna=False)[value] if by else [((), df[value])]
    rows, singles = [], []
    for key, series in groups:
        key = key if isinstance(key, tuple) else (key,)
        x = series.to_numpy(dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            iv = mean_interval(x, level, bounds)
        if x.size < 2:
            singles.append(key)
        rows.append({**dict(zip(by, key)), "mean": iv.estimate,
                     "sd": float(np.std(x, ddof=1)) if x.size > 1 else float("nan"),
                     "n": iv.n, "low": iv.low, "high": iv.high, "level": level, "method": iv.method})
    if singles:
        warnings.warn(f"aggregate_seeds: {len(singles)} group(s) have a single seed, interval NaN: {singles[:5]}",
                      stacklevel=2)
    return pd.DataFrame(rows, columns=[*by, "mean", "sd", "n", "low", "high", "level", "method"])

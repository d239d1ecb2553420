"""babybias's one statistics vocabulary: bootstrap intervals over items (plain and weighted), paired
comparisons of two systems on the same items, means across seeds with t intervals, and the effect of a
condition against a reference paired by seed and by item.

Every result is an :class:`Interval` (like scipy's result objects: ``estimate``, ``low``/``high`` and
``confidence_interval``, ``level``, ``n``, ``method`` and, where a test goes with it, ``p_value``);
an :class:`Effect` holds one seed-paired interval and one item-paired :class:`PairedDifference`.
Every function is pure (no global state): randomness comes from an explicit ``seed`` turned into
``np.random.default_rng(seed)``. Results are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95  # the confidence level of every interval babybias reports unless told otherwise
SMALL_N = 10  # below this many items a bootstrap interval is wide and undercovers: warn
BATCH_ELEMENTS = 2_000_000  # resampled values held at once (bounds memory for many items × many resamples)
SPREAD_TOL = 1e-12  # values within this fraction of their largest magnitude (at least 1) of each other do not vary
JACKKNIFE_GROUPS = 100  # BCa's acceleration from a delete-one-group jackknife over at most this many groups
INTERVAL_METHODS = ("percentile", "BCa")

__all__ = ["LEVEL", "Interval", "PairedDifference", "Effect", "ItemRows", "bootstrap_ci", "paired_bootstrap",
           "resampled_item_effect", "resampled_item_interval", "weighted_bootstrap", "mean_interval", "aggregate_seeds",
           "seed_effect", "estimate_effect", "no_spread"]


class ConfidenceInterval(NamedTuple):
    """``(low, high)``, as ``scipy.stats``' result objects name them."""

    low: float
    high: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (``low``, ``high``) at ``level``, from ``n`` values
    (``method`` says how), and where a test goes with it its two-sided ``p_value`` (``p_method``);
    ``resamples``: the bootstrap resamples the interval used (0 when none)."""

    estimate: float
    low: float
    high: float
    level: float
    n: int
    method: str
    p_value: float = math.nan
    p_method: str = ""
    resamples: int = 0

    @property
    def confidence_interval(self) -> ConfidenceInterval:
        return ConfidenceInterval(self.low, self.high)

    def to_dict(self) -> dict:
        """Plain data (floats, ints, strings) for printing or a DataFrame row."""
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference(Interval):
    """``statistic(b) − statistic(a)`` over paired items (an :class:`Interval`), with a two-sided p-value."""

    statistic_a: float = math.nan
    statistic_b: float = math.nan

    @property
    def interval(self) -> Interval:
        """The difference as a plain :class:`Interval`."""
        return Interval(self.estimate, self.low, self.high, self.level, self.n, self.method)


@dataclass(frozen=True, eq=False)
class ItemRows:
    """One cell's per-item ``rows`` of a benchmark and its ``aggregate`` (rows → scores): a score ``key`` that is
    no item mean gets its item interval by resampling the rows (:func:`resampled_item_effect`). Objects of one
    cell and benchmark may share ``cache`` (resampled scores), so each resample is aggregated once for all keys."""

    rows: pd.DataFrame
    aggregate: Callable[[pd.DataFrame], Mapping[str, float]]
    key: str
    cache: dict = field(default_factory=dict, repr=False)
    #: stratum label per row: a resample keeps each stratum's size (None: one pool)
    strata: np.ndarray | None = field(default=None, repr=False)
    #: ``index ↦ scores of rows.iloc[index]`` when faster than ``aggregate`` (``Benchmark.resampler``)
    resampler: Callable[[np.ndarray], Mapping[str, float]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def value(self, index: np.ndarray | None = None, tag: tuple = ()) -> float:
        """The score on the rows at ``index`` (all rows when None); ``tag`` names that resample in the cache."""
        if tag not in self.cache:
            if index is None:
                self.cache[tag] = dict(self.aggregate(self.rows))
            elif self.resampler is not None:
                self.cache[tag] = dict(self.resampler(index))
            else:
                self.cache[tag] = dict(self.aggregate(self.rows.iloc[index].reset_index(drop=True)))
        return float(self.cache[tag].get(self.key, math.nan))

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One bootstrap resample of row indices: with replacement within each stratum (its size kept), or
        from all rows when there are no strata."""
        n = len(self.rows)
        if self.strata is None:
            return rng.integers(0, n, n)
        return np.concatenate([g[rng.integers(0, g.size, g.size)] for g in self._groups])

    @functools.cached_property
    def _groups(self) -> list[np.ndarray]:
        """Row indices of each stratum, strata in order of first appearance (found once, used by every draw)."""
        codes, _ = pd.factorize(np.asarray(self.strata))
        order = np.argsort(codes, kind="stable")
        return np.split(order, np.cumsum(np.bincount(codes))[:-1])


# --------------------------------------------------------------------------- validation helpers


def no_spread(values) -> bool:
    """Whether ``values`` do not vary: their range is at most :data:`SPREAD_TOL` of their largest magnitude
    (at least 1). A t statistic, a standardised predictor or a correlation is undefined then."""
    x = np.asarray(values, dtype=float)
    return bool(np.ptp(x) <= SPREAD_TOL * max(1.0, float(np.abs(x).max())))


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
                 level: float = LEVEL, method: str = "BCa", seed: int = 0) -> Interval:
    """Bootstrap confidence interval of ``statistic(values)`` over items (``scipy.stats.bootstrap``)."""
    x = as_finite_1d(values, "values", min_n=2)
    level = check_level(level)
    warn_small_n(x.size, "bootstrap_ci")
    vectorized = _takes_axis(statistic)
    stat = statistic if vectorized else (lambda s: statistic(s))
    low, high, used = run_bootstrap((x,), stat, paired=False, vectorized=vectorized, n_resamples=n_resamples,
                                    level=level, method=method, seed=seed)
    return Interval(float(statistic(x)), low, high, level, int(x.size), used, resamples=n_resamples)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], statistic: Callable = np.mean, *,
                     n_resamples: int = 9999, level: float = LEVEL, method: str = "BCa", seed: int = 0,
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
    return PairedDifference(estimate, low, high, level, int(x.size), used, p_value=p, p_method=p_name,
                            resamples=n_resamples, statistic_a=float(statistic(x)), statistic_b=float(statistic(y)))


def resampled_item_effect(baseline: Sequence[ItemRows], condition: Sequence[ItemRows], *, n_resamples: int = 1999,
                          level: float = LEVEL, seed: int = 0) -> PairedDifference:
    """mean over seeds of the condition's score − the same for the baseline, with a paired percentile bootstrap
    over items: every resample draws the same item indices for every cell (within each stratum when the cells
    have strata) and aggregates each cell's rows again.

    For a score that is any function of the items (ICAT, a JSD): the resampled statistic is the score itself, so
    where the score is a nonlinear function of item means it is biased in small samples, as its point estimate is.
    The two-sided p is the null-shifted bootstrap share of |θ* − θ̂| ≥ |θ̂|, (k + 1) / (B + 1).
    """
    level = check_level(level)
    cells = [*baseline, *condition]
    n = len(cells[0]) if cells else 0
    if any(len(c) != n for c in cells) or not baseline or not condition:
        raise ValueError(f"every cell must have the same items: got {[len(c) for c in cells]} rows")
    if n < 2:
        raise ValueError("a resampled item interval needs at least 2 items")
    strata = [None if c.strata is None else np.asarray(c.strata) for c in cells]
    if any((s is None) != (strata[0] is None) or (s is not None and not np.array_equal(s, strata[0])) for s in strata):
        raise ValueError("every cell must have the same items in the same strata")

    def effect(index: np.ndarray | None, tag: tuple) -> float:
        return (float(np.mean([c.value(index, tag) for c in condition]))
                - float(np.mean([c.value(index, tag) for c in baseline])))

    estimate = effect(None, ())
    rng = np.random.default_rng(seed)
    dist = np.array([effect(cells[0].draw(rng), ("resample", seed, n_resamples, b)) for b in range(n_resamples)])
    finite, low, high = _percentile_bounds(dist, level)
    p = float((np.sum(np.abs(finite - estimate) >= abs(estimate)) + 1) / (finite.size + 1)) if finite.size else math.nan
    a = float(np.mean([c.value(None, ()) for c in baseline]))
    return PairedDifference(estimate, low, high, level, n, "bootstrap-percentile (items resampled, scores re-aggregated)",
                            p_value=p, p_method="bootstrap (null-shifted)", resamples=n_resamples, statistic_a=a,
                            statistic_b=a + estimate)


def _percentile_bounds(dist: np.ndarray, level: float) -> tuple[np.ndarray, float, float]:
    """The finite resampled values and their central ``level`` percentile bounds (NaN when none is finite)."""
    finite = dist[np.isfinite(dist)]
    alpha = (1 - level) / 2
    low, high = (float(q) for q in np.quantile(finite, [alpha, 1 - alpha])) if finite.size else (math.nan, math.nan)
    return finite, low, high


def resampled_item_interval(cell: ItemRows, *, n_resamples: int = 1999, level: float = LEVEL,
                            seed: int = 0) -> Interval:
    """One cell's score with a percentile bootstrap interval over its items (within each stratum when it has
    strata), each resample aggregated again: the interval of a score that is no item mean (a SEAT effect size)."""
    level = check_level(level)
    if len(cell) < 2:
        raise ValueError("a resampled item interval needs at least 2 items")
    estimate = cell.value(None, ())
    rng = np.random.default_rng(seed)
    dist = np.array([cell.value(cell.draw(rng), ("resample", seed, n_resamples, b)) for b in range(n_resamples)])
    _, low, high = _percentile_bounds(dist, level)
    return Interval(estimate, low, high, level, len(cell), "bootstrap-percentile (items resampled, scores re-aggregated)",
                    resamples=n_resamples)


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


def mean_interval(values: Sequence[float], level: float = LEVEL,
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
                    level: float = LEVEL, bounds: tuple[float, float] | Callable[[tuple], tuple[float, float] | None]
                    | None = None) -> pd.DataFrame:
    """One row per group of ``by``: mean, sd, n, low, high of ``value`` across its rows (seeds), t interval.

    Each row of ``df`` is one run (one seed); ``by`` names the columns that identify a condition
    (e.g. ``["corpus", "checkpoint"]``). Groups with a single seed get NaN sd/low/high and one warning.
    ``bounds``: the value's range, to clip each interval to (see :func:`mean_interval`), or a function of
    a group's key (a tuple of its ``by`` values) giving that group's range (None: no clipping).
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
    if not callable(bounds):
        check_bounds(bounds, vals)
    groups = df.groupby(by, sort=True, dropna=False)[value] if by else [((), df[value])]
    rows, singles = [], []
    for key, series in groups:
        key = key if isinstance(key, tuple) else (key,)
        x = series.to_numpy(dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            iv = mean_interval(x, level, bounds(key) if callable(bounds) else bounds)
        if x.size < 2:
            singles.append(key)
        rows.append({**dict(zip(by, key)), "mean": iv.estimate,
                     "sd": float(np.std(x, ddof=1)) if x.size > 1 else float("nan"),
                     "n": iv.n, "low": iv.low, "high": iv.high, "level": level, "method": iv.method})
    if singles:
        warnings.warn(f"aggregate_seeds: {len(singles)} group(s) have a single seed, interval NaN: {singles[:5]}",
                      stacklevel=2)
    return pd.DataFrame(rows, columns=[*by, "mean", "sd", "n", "low", "high", "level", "method"])


# --------------------------------------------------------------------------- weighted bootstrap over items


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """Rows of item indices (B × n) → rows of item multiplicities (B × n)."""
    idx = np.atleast_2d(idx).astype(np.int64)
    offsets = (np.arange(idx.shape[0]) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=idx.shape[0] * n).reshape(idx.shape[0], n).astype(float)


def weighted_bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, names: Sequence[str], *,
                       n_resamples: int = 999, level: float = LEVEL, seed: int = 0,
                       method: str = "percentile") -> dict[str, Interval]:
    """The weighted bootstrap over n items: ``statistic(weights)`` (B × n item weights → B × K values) on the data (all weights 1) and its
    ``method`` interval ("percentile", default, or "BCa") over ``n_resamples`` resamples of the n items.
    BCa is not the default: for a statistic biased upward by resampling (FPED, GAP_RMS: sums of absolute or
    squared differences) nearly every resample lies above the estimate, and BCa's bias correction then
    pushes both ends into the lower tail (an interval of width 0.03 below the estimate, docs/downstream.md)."""
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method must be one of {INTERVAL_METHODS}, got {method!r}")
    if n < 2:
        raise ValueError(f"need at least 2 test items for an interval, got {n}")
    point = np.asarray(statistic(np.ones((1, n))), dtype=float)[0]
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")

    def stat(idx, axis=-1):
        return np.asarray(statistic(_weights(idx, n)), dtype=float).T  # K × B

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((np.arange(n),), stat, vectorized=True, method="percentile", n_resamples=n_resamples,
                              confidence_level=level, batch=batch_size(n), rng=np.random.default_rng(seed))
    dist = np.asarray(res.bootstrap_distribution, dtype=float).reshape(len(names), -1)
    jack = (np.asarray(statistic(_jackknife_weights(n, seed)), dtype=float).T if method == "BCa"
            else np.full((len(names), 1), np.nan))
    out = {}
    for k, name in enumerate(names):
        finite = dist[k][np.isfinite(dist[k])]
        low, high, used = _quantiles(point[k], finite, jack[k], level, method)
        out[name] = Interval(float(point[k]), low, high, level, n, f"bootstrap-{used} over items",
                             resamples=int(finite.size))
    return out


def _jackknife_weights(n: int, seed: int) -> np.ndarray:
    """G × n weight rows that each leave out one of G = min(n, JACKKNIFE_GROUPS) seeded groups of items
    (the delete-one jackknife when n ≤ JACKKNIFE_GROUPS)."""
    groups = min(n, JACKKNIFE_GROUPS)
    member = np.random.default_rng([seed, 1]).permutation(n) % groups
    w = np.ones((groups, n))
    w[member, np.arange(n)] = 0.0
    return w


def _quantiles(point: float, dist: np.ndarray, jack: np.ndarray, level: float, method: str) -> tuple[float, float, str]:
    """Percentile or BCa (Efron 1987) quantiles of the finite bootstrap values ``dist``; BCa's bias
    correction z0 from the share of values below ``point`` (capped at 1/(2B) from 0 and 1), its
    acceleration from the jackknife values ``jack``. BCa falls back to percentile if ``point`` is undefined."""
    if dist.size == 0:
        return float("nan"), float("nan"), method
    alpha = (1 - level) / 2
    q = np.array([alpha, 1 - alpha])
    if method == "BCa" and np.isfinite(point):
        share = (np.sum(dist < point) + 0.5 * np.sum(dist == point)) / dist.size
        z0 = stats.norm.ppf(np.clip(share, 0.5 / dist.size, 1 - 0.5 / dist.size))
        j = jack[np.isfinite(jack)]
        d = j.mean() - j if j.size else j
        ss = float(d @ d)
        a = float(np.sum(d ** 3)) / (6 * ss ** 1.5) if ss > 0 else 0.0
        z = stats.norm.ppf(q)
        q = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    elif method == "BCa":
        method = "percentile"
    low, high = np.quantile(dist, q)
    return float(low), float(high), method


# --------------------------------------------------------------------------- effects paired by seed and by item


def _t_test_p(d: np.ndarray) -> float:
    """Two-sided one-sample t test of mean(d) = 0; without spread (:func:`no_spread`) 1 if d is 0, else 0."""
    if d.size < 2:
        return math.nan
    if no_spread(d):  # the t statistic is undefined
        return 1.0 if d[0] == 0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def seed_effect(reference: Mapping[int, float], condition: Mapping[int, float], level: float = LEVEL,
                bounds: tuple[float, float] | None = None) -> Interval:
    """``condition − reference`` paired by seed: the mean of the per-seed differences over the seeds both
    have (finite), its t interval and one-sample t-test p (``n`` seeds; NaN interval and p with one seed).
    ``bounds``: the metric's range, which bounds a difference by ±(high − low): the interval is clipped to that."""
    shared = sorted(set(reference) & set(condition))
    d = np.array([condition[s] - reference[s] for s in shared], dtype=float)
    d = d[np.isfinite(d)]
    clip = None if bounds is None or not np.isfinite(bounds[1] - bounds[0]) else (
        -(bounds[1] - bounds[0]), bounds[1] - bounds[0])
    if d.size == 0:
        return Interval(math.nan, math.nan, math.nan, level, 0, "t", p_method="one-sample t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one seed: NaN interval, said where it is shown
        iv = mean_interval(d, level, clip)
    return Interval(iv.estimate, iv.low, iv.high, level, int(d.size), iv.method, p_value=_t_test_p(d),
                    p_method="one-sample t")


def _excludes_zero(low: float, high: float) -> bool:
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


@dataclass(frozen=True)
class Effect:
    """``metric(condition) − metric(reference)`` with its interval over seeds and, where defined, over items."""

    condition: str
    metric: str
    estimate: float
    seeds: Interval                      # t interval of the per-seed differences (NaN with one seed)
    p_seeds: float                       # one-sample t-test of the per-seed differences
    items: PairedDifference | None       # paired bootstrap over items of the seed-averaged values
    per_seed: dict[int, float]           # seed -> difference
    distinguishable: bool | None         # None: one seed, no verdict
    reference: str = "baseline"          # what the condition is compared with (the baseline, or the control)

    @property
    def label(self) -> str:
        """``cda`` against the baseline, ``cda − duplication`` against another reference."""
        return self.condition if self.reference == "baseline" else f"{self.condition} − {self.reference}"

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)

    def to_dict(self) -> dict:
        """One flat row: estimate, seed interval and p, item interval and p (NaN where absent), verdict."""
        it = self.items
        return {"condition": self.condition, "reference": self.reference, "metric": self.metric, "estimate": self.estimate,
                "seeds_low": self.seeds.low, "seeds_high": self.seeds.high, "n_seeds": self.n_seeds,
                "p_seeds": self.p_seeds,
                "items_low": it.low if it else math.nan, "items_high": it.high if it else math.nan,
                "n_items": it.n if it else 0, "p_items": it.p_value if it else math.nan,
                "items_method": it.method if it else "", "distinguishable": self.distinguishable,
                "per_seed": {str(k): v for k, v in self.per_seed.items()}}


def estimate_effect(baseline: Mapping[int, float], condition: Mapping[int, float], *,
                    baseline_items: Mapping[int, np.ndarray | ItemRows] | None = None,
                    condition_items: Mapping[int, np.ndarray | ItemRows] | None = None,
                    name: str = "condition", metric: str = "metric", reference: str = "baseline",
                    level: float = LEVEL, n_resamples: int = 1999, seed: int = 0,
                    bounds: tuple[float, float] | None = None) -> Effect:
    """The effect of ``condition`` over ``baseline`` (or another ``reference``: the control) on one metric.

    ``baseline`` / ``condition`` map training seeds to the metric's value; only seeds present in both
    (with finite values) are used: :func:`seed_effect`, clipped to the metric's ``bounds`` where given.
    ``*_items`` map seeds to per-item values (the same items, in the same order, in every cell) for the
    interval over items, :func:`paired_bootstrap` of the seed-averaged values; ``seed`` seeds it. Per-cell
    :class:`ItemRows` instead (a score that is no item mean) give :func:`resampled_item_effect`.
    Distinguishable from noise: two seeds or more, the seed interval excludes 0, and so does the item
    interval where there is one.
    """
    shared = sorted(s for s in set(baseline) & set(condition) if np.isfinite(condition[s] - baseline[s]))
    if not shared:
        raise ValueError(f"{name} vs {reference} on {metric}: no seed has both cells "
                         f"({reference} seeds {sorted(baseline)}, {name} seeds {sorted(condition)})")
    seeds_iv = seed_effect(baseline, condition, level, bounds)
    items = None
    if baseline_items is not None and condition_items is not None and all(
            s in baseline_items and s in condition_items for s in shared) and isinstance(
            baseline_items[shared[0]], ItemRows):
        try:
            items = resampled_item_effect([baseline_items[s] for s in shared], [condition_items[s] for s in shared],
                                          n_resamples=n_resamples, level=level, seed=seed)
        except ValueError as err:
            raise ValueError(f"{name} vs {reference} on {metric}: {err} (another limit or benchmark version?)") from None
    elif baseline_items is not None and condition_items is not None and all(
            s in baseline_items and s in condition_items for s in shared):
        a = np.mean([np.asarray(baseline_items[s], dtype=float) for s in shared], axis=0)
        b = np.mean([np.asarray(condition_items[s], dtype=float) for s in shared], axis=0)
        if a.shape != b.shape:
            raise ValueError(f"{name} vs {reference} on {metric}: {b.size} items against {a.size}; "
                             "the cells were evaluated on different items (another limit or benchmark version?)")
        if a.size >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                items = paired_bootstrap(a, b, n_resamples=n_resamples, level=level, seed=seed)
    if len(shared) < 2:
        verdict = None
    else:
        verdict = _excludes_zero(seeds_iv.low, seeds_iv.high) and (items is None or _excludes_zero(items.low, items.high))
    per_seed = {int(s): float(condition[s] - baseline[s]) for s in shared}
    return Effect(name, metric, seeds_iv.estimate, seeds_iv, seeds_iv.p_value, items, per_seed, verdict, reference)

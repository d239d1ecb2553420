"""The benchmark registry: a benchmark is a small declarative object with an ``evaluate`` method.

Add your own in a few lines::

    from babybias.evaluate import MinimalPairs, register
    register(MinimalPairs(name="my_agreement", source="pairs.jsonl"))
    evaluate(model, tokenizer, ["my_agreement"])
"""

from __future__ import annotations

import dataclasses
import functools
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ..helpers import checks
from ..helpers.registry import Registry as NameRegistry, UnknownNameError
from ..helpers.deprecation import moved_names
from .results import BenchmarkResult
from .scoring import LMScorer


class UnknownBenchmarkError(UnknownNameError):
    """No benchmark of that name is registered; ``str()`` is the plain message (no KeyError quotes)."""


class MissingDataError(ValueError):
    """A benchmark whose data is not shipped was given no ``source=``; says what to pass.

    ``benchmark`` is its name, ``needs`` what its source may be, ``password`` whether a protected
    zip also needs ``password=`` (the CLI turns these into its ``--source``/``--ewok-password`` options).
    """

    def __init__(self, benchmark: str, needs: str, why: str = "", password: bool = False) -> None:
        self.benchmark, self.needs, self.why, self.password = benchmark, needs, why, password
        extra = " (a protected zip also needs password=)" if password else ""
        super().__init__(f"benchmark {benchmark!r} {why or 'has no data shipped with babybias'}: "
                         f"pass source= {needs}{extra}")


class NotApplicableError(ValueError):
    """This benchmark does not score this kind of model (SEAT reads representations a Self-Debias wrapper does not
    change); a comparison over methods leaves the benchmark out for that model and says so."""


__getattr__ = moved_names(__name__, {"check_limit": "babybias.helpers.checks"})


class Benchmark(ABC):
    """Base class: subclasses are dataclasses whose fields are the benchmark's options.

    Every subclass's ``evaluate`` checks ``limit`` first (None = all, else an integer >= 1), so
    ``limit=0`` or ``-1`` raises the same ValueError whichever benchmark is called.
    """

    name: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("evaluate")
        if method is None or getattr(method, "_checks_limit", False) or getattr(method, "__isabstractmethod__", False):
            return

        @functools.wraps(method)
        def evaluate(self, scorer: LMScorer, limit: int | None = None, *args: Any, **kw: Any) -> BenchmarkResult:
            return method(self, scorer, checks.check_limit(limit), *args, **kw)

        evaluate._checks_limit = True  # type: ignore[attr-defined]
        cls.evaluate = evaluate  # type: ignore[method-assign]

    @abstractmethod
    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        """Score the benchmark with ``scorer``; ``limit`` caps the examples (per group where it has groups)."""

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """The benchmark's scores from its per-item rows: any function of them (a mean, a macro mean, ICAT, a
        p-value). ``evaluate`` returns exactly these scores; a resample of the rows gives an item interval."""
        raise NotImplementedError(f"{type(self).__name__} declares no aggregation of its per-item rows")

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """Per-item values whose plain mean is score ``key`` (exact and fast item intervals), or None when that
        score is not a mean over items (it is then resampled through :meth:`aggregate`)."""
        return None

    def item_strata(self, rows: pd.DataFrame) -> np.ndarray | None:
        """Stratum labels of the rows when a resample must keep each stratum's size (SEAT's four sets of each test),
        or None (the default: the rows are resampled as one pool)."""
        return None

    def resampler(self, rows: pd.DataFrame) -> Callable[[np.ndarray], dict[str, float]]:
        """``index ↦ aggregate(rows.iloc[index])``: the scores of a resample of the rows. A benchmark whose
        aggregation is slow may return a prepared function that gives the same scores faster."""
        return lambda index: self.aggregate(rows.iloc[index].reset_index(drop=True))

    def fixed_keys(self, keys: Iterable[str]) -> list[str]:
        """The score keys that are not estimates over items (counts, p-values): no item interval."""
        return [k for k in keys if k.rsplit("/", 1)[-1] in FIXED_KEY_NAMES]

    def breakdowns(self, keys: Iterable[str]) -> list[str]:
        """The score keys that break the headline down by bias axis (shown beside it in the sandbox's effects)."""
        return []

    def result(self, rows: pd.DataFrame, **config: Any) -> BenchmarkResult:
        """The :class:`BenchmarkResult` of per-item ``rows``: scores = :meth:`aggregate`, config = options + ``config``."""
        return BenchmarkResult(self.name, self.aggregate(rows), rows, self.config() | config)

    def check_data(self) -> None:
        """Read the benchmark's data once, so a missing source or a malformed file fails before a model loads.

        The default does nothing (shipped data); benchmarks that read a user's files override it.
        """

    def config(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self):
            return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"name": self.name}

    def with_options(self, **options: Any) -> "Benchmark":
        """A copy with some fields changed (``dataclasses.replace``), e.g. ``get_benchmark('stereoset').with_options(split='test')``."""
        return dataclasses.replace(self, **options)


#: last parts of score keys that count or test rather than estimate: they get no item interval.
FIXED_KEY_NAMES = ("count", "n_pairs", "n_skipped", "n_items", "n_tokens", "p_value")


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


class Registry(NameRegistry):
    """Name → :class:`Benchmark` (the one registry type, ``babybias.helpers.Registry``); every lookup gets a
    fresh object (a deep copy of the registered one, or what a registered factory returns)."""

    def __init__(self) -> None:
        super().__init__("benchmark", kind=Benchmark, fresh=True, error=UnknownBenchmarkError,
                         hint=" (a file of minimal pairs is MinimalPairs(name=..., source=path), or on the command "
                              "line its .jsonl path)")

    def get(self, name: str, **options: Any) -> Benchmark:  # type: ignore[override]
        """A fresh benchmark, with ``options`` overriding its fields."""
        bench = self[name]
        return bench.with_options(**options) if options else bench

    def resolve(self, items: Iterable[str | Benchmark]) -> list[Benchmark]:
        out = [self.get(i) if isinstance(i, str) else i for i in items]
        seen: set[str] = set()
        for b in out:
            if not isinstance(b, Benchmark):
                raise TypeError(f"expected a benchmark name or Benchmark, got {type(b).__name__}")
            if b.name in seen:
                raise ValueError(f"two benchmarks are named {b.name!r}; give one another name= so their scores do not collide")
            seen.add(b.name)
        return out


REGISTRY = Registry()


def register(benchmark: Benchmark | Callable[[], Benchmark], name: str | None = None, *, overwrite: bool = False) -> None:
    """Register a benchmark (or a zero-argument factory) under its name in the default registry."""
    REGISTRY.register(benchmark, name, overwrite=overwrite)


def get_benchmark(name: str, **options: Any) -> Benchmark:
    """A fresh benchmark object from the default registry, with ``options`` overriding its fields."""
    return REGISTRY.get(name, **options)


def list_benchmarks() -> list[str]:
    return REGISTRY.names()


def macro_values(values: np.ndarray, groups: pd.Series) -> np.ndarray:
    """Per-item ``values`` reweighted (N / (G · n_g)) so that their plain mean is the mean of the per-group means."""
    counts = groups.map(groups.value_counts()).to_numpy(dtype=float)
    return values * len(values) / (groups.nunique() * counts)


def benchmark_for(name: str, config: Mapping[str, Any] | None = None) -> Benchmark | None:
    """The registered benchmark ``name`` with the scalar options of a result's ``config`` (None when no benchmark
    of that name is registered): what reads a saved result's rows again."""
    if name not in REGISTRY:
        return None
    bench = REGISTRY.get(name)
    if config and dataclasses.is_dataclass(bench):
        fields = {f.name: getattr(bench, f.name) for f in dataclasses.fields(bench) if f.init}
        same = {k: v for k, v in config.items() if k in fields and k != "name" and isinstance(v, (str, int, float, bool))
                and type(v) is type(fields[k])}
        try:
            bench = bench.with_options(**same)
        except (TypeError, ValueError):
            pass
    return bench


def item_values(metric: str, rows: Mapping[str, pd.DataFrame]) -> np.ndarray | None:
    """Per-item values of ``metric`` (``"<benchmark>/<key>"``) whose plain mean is the metric, or None.

    ``rows`` maps benchmark names to their per-item frames; the benchmark of that name (registered) says how
    (:meth:`Benchmark.item_values`). None for an unknown benchmark, a key that is not an item mean, or a frame
    without the columns its rule reads.
    """
    name, _, key = metric.partition("/")
    frame = rows.get(name)
    bench = benchmark_for(name)
    if bench is None or frame is None or frame.empty or not key:
        return None
    try:
        return bench.item_values(frame.reset_index(drop=True), key)
    except KeyError:  # a frame without the columns this rule reads (another benchmark of that name)
        return None

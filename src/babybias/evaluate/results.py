"""Plain-data results: per-example rows (pandas) and one flat dict of float scores."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..helpers.deprecation import moved_names
from ..helpers import io

__getattr__ = moved_names(__name__, {"atomic_write_text": "babybias.helpers.io", "jsonable": "babybias.helpers.io"})


@dataclass
class BenchmarkResult:
    """One benchmark's outcome: ``scores`` (keys without the benchmark prefix) and per-example ``rows``."""

    name: str
    scores: dict[str, float]
    rows: pd.DataFrame
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scores": self.scores, "config": self.config,
                "rows": json.loads(self.rows.to_json(orient="records"))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BenchmarkResult":
        return cls(name=d["name"], scores={k: float(v) for k, v in d["scores"].items()},
                   rows=pd.DataFrame.from_records(d.get("rows", [])), config=d.get("config", {}))


@dataclass
class EvaluationResult:
    """Results of :func:`babybias.evaluate.evaluate` over several benchmarks.

    ``scores`` is one flat ``{"<benchmark>/<key>": float}`` dict (a logger- or DataFrame-row-ready
    view); ``to_frame()`` stacks every benchmark's per-example rows with a ``benchmark`` column.
    """

    benchmarks: dict[str, BenchmarkResult]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, float]:
        return {f"{name}/{key}": value for name, res in self.benchmarks.items() for key, value in res.scores.items()}

    def __getitem__(self, name: str) -> BenchmarkResult:
        return self.benchmarks[name]

    def to_frame(self) -> pd.DataFrame:
        frames = [res.rows.assign(benchmark=name) for name, res in self.benchmarks.items()]
        frame = pd.concat(frames, ignore_index=True, sort=False) if frames else pd.DataFrame()
        return frame[["benchmark"] + [c for c in frame.columns if c != "benchmark"]] if len(frame.columns) else frame

    def scores_frame(self) -> pd.DataFrame:
        """The flat scores as a two-column frame (``metric``, ``value``)."""
        return pd.DataFrame({"metric": list(self.scores), "value": list(self.scores.values())})

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "scores": self.scores,
                "benchmarks": {name: res.to_dict() for name, res in self.benchmarks.items()}}

    def to_json(self, path: str | os.PathLike, rows: bool = True) -> Path:
        """Write atomically (temp file + rename); ``rows=False`` writes the aggregates only."""
        d = self.to_dict()
        if not rows:
            for b in d["benchmarks"].values():
                b.pop("rows")
        return io.atomic_write_text(path, json.dumps(d, indent=1, allow_nan=True, default=io.jsonable))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "EvaluationResult":
        d = json.loads(Path(path).read_text())
        return cls(benchmarks={n: BenchmarkResult.from_dict(b) for n, b in d["benchmarks"].items()}, meta=d.get("meta", {}))

    def __repr__(self) -> str:
        lines = [f"EvaluationResult({len(self.benchmarks)} benchmarks)"]
        lines += [f"  {k}: {v:.2f}" if isinstance(v, float) and not math.isnan(v) else f"  {k}: {v}" for k, v in self.scores.items()]
        return "\n".join(lines)


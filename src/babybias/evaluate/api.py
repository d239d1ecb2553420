"""The single entry point: ``evaluate(model, tokenizer, benchmarks)``."""

from __future__ import annotations

import time
from typing import Iterable, Literal

from ..helpers.checks import check_limit
from .registry import REGISTRY, Benchmark
from .results import EvaluationResult
from .scoring import PLLMethod, make_scorer

DEFAULT_BENCHMARKS = ("crows_pairs", "stereoset", "winobias", "blimp")


def evaluate(
    model,
    tokenizer,
    benchmarks: Iterable[str | Benchmark] = DEFAULT_BENCHMARKS,
    *,
    kind: Literal["mlm", "clm"] | None = None,
    limit: int | None = None,
    batch_size: int = 256,
    max_tokens: int = 16384,
    device: str | None = None,
    pll: PLLMethod = "original",
    progress: bool = True,
) -> EvaluationResult:
    """Score ``model`` on each benchmark (registry names or :class:`Benchmark` objects).

    ``kind`` ("mlm"/"clm") is guessed from the model class when omitted; ``limit`` caps the
    examples of each benchmark (per paradigm/domain/file where it has groups) for quick runs:
    ``None`` means all, otherwise it must be >= 1 (0 or a negative number raises ValueError).
    ``pll`` is the masked-LM PLL method of every benchmark that does not fix its own (CrowS-Pairs
    metrics define their masking and always mask one token at a time).
    Returns an :class:`EvaluationResult` (``.scores``, ``.to_frame()``, ``.to_json()``); no benchmarks at all
    (``[]``) is a ValueError, not an empty result.
    """
    limit = check_limit(limit)
    if kind not in (None, "mlm", "clm"):
        raise ValueError(f"kind must be 'mlm', 'clm' or None (from the model class), got {kind!r}")
    resolved = REGISTRY.resolve([benchmarks] if isinstance(benchmarks, (str, Benchmark)) else benchmarks)
    if not resolved:
        raise ValueError("evaluate() got no benchmarks: pass names such as ['crows_pairs', 'blimp'] or Benchmark "
                         f"objects (default {list(DEFAULT_BENCHMARKS)})")
    scorer = make_scorer(model, tokenizer, kind, batch_size=batch_size, max_tokens=max_tokens,
                         device=device, progress=progress, pll=pll)
    results = {}
    timings = {}
    for bench in resolved:
        start = time.perf_counter()
        results[bench.name] = bench.evaluate(scorer, limit=limit)
        timings[bench.name] = time.perf_counter() - start
    meta = {
        "model": getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__,
        "model_class": type(model).__name__,
        "kind": scorer.kind,
        "limit": limit,
        "seconds": timings,
    }
    return EvaluationResult(results, meta)

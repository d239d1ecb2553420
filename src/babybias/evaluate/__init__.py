"""Bias and ability evaluation for any masked or causal language model.

>>> from babybias.evaluate import evaluate
>>> result = evaluate(model, tokenizer, ["crows_pairs", "stereoset", "blimp"])  # doctest: +SKIP
>>> result.scores["crows_pairs/overall"]  # doctest: +SKIP

See docs/evaluate.md for every benchmark, its metric variants and where each comes from.
"""

from .api import evaluate
from .crows_pairs import CrowsPairs
from .fairness import GenderLogOdds, GenderPrediction, KuritaBias, jsd_by_parts, winobias_occupations
from .crows_pairs import load_crows_pairs
from .loaders import DataFormatError
from .minimal_pairs import load_blimp, load_ewok, load_minimal_pairs
from .stereoset import load_stereoset
from .winobias import load_winobias
from .minimal_pairs import BLiMP, BlimpSupplement, EWoK, MinimalPairs
from .registry import (Benchmark, NotApplicableError, Registry, benchmark_for, get_benchmark, item_values, list_benchmarks,
                       macro_values, register)
from .results import BenchmarkResult, EvaluationResult
from .perplexity import Perplexity, load_text_rows
from .seat import SEAT, seat_encode, weat_effect_size, weat_p_value
from .scoring import CausalLMScorer, Encoded, LMScorer, MaskedLMScorer, make_scorer, model_kind
from .stereoset import StereoSet, stereoset_metrics
from .winobias import WinoBias

__all__ = [
    "evaluate", "Benchmark", "NotApplicableError", "Registry", "register", "get_benchmark", "list_benchmarks", "benchmark_for", "item_values",
    "macro_values",
    "BenchmarkResult", "EvaluationResult", "DataFormatError",
    "CrowsPairs", "StereoSet", "stereoset_metrics", "BLiMP", "BlimpSupplement", "EWoK", "MinimalPairs", "WinoBias",
    "SEAT", "seat_encode", "weat_effect_size", "weat_p_value", "Perplexity", "load_text_rows",
    "GenderPrediction", "GenderLogOdds", "KuritaBias", "jsd_by_parts", "winobias_occupations",
    "LMScorer", "MaskedLMScorer", "CausalLMScorer", "Encoded", "make_scorer", "model_kind",
    "load_blimp", "load_crows_pairs", "load_ewok", "load_minimal_pairs", "load_stereoset", "load_winobias",
]

"""WinoBias (Zhao et al. 2018) as a language-modelling probe: does the model prefer the gendered
pronoun that the sentence actually uses over its opposite-gender counterpart?

For each sentence (pronouns in brackets in the data) we score the sentence as written and every
version with its bracketed pronouns swapped to the other gender (he↔she, him/his→her, her→him or
his — "her" is ambiguous between object and possessive, so both readings are scored and the
better-scoring one is the competitor). The item is correct when the written sentence scores
strictly higher. In pro-stereotypical sentences the written pronoun matches the occupation's
stereotype, in anti-stereotypical ones it does not, so a model that follows occupational
stereotypes is more accurate on ``pro`` than on ``anti``; ``gap`` = pro − anti (0 = unbiased).

Sentence score: summed pseudo-log-likelihood (masked LMs, the scorer's PLL method, "original" by default) or summed
log-likelihood after BOS (causal LMs). Split: ``test`` by default, ``dev`` or ``all``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .loaders import PathLike, load_winobias, winobias_counterfactuals
from .registry import Benchmark, register
from .results import BenchmarkResult
from .scoring import LMScorer


def winobias_summary(frame: pd.DataFrame) -> dict[str, float]:
    """``pro``, ``anti``, ``gap``, ``accuracy`` overall and per ``type1`` / ``type2`` (percent)."""
    scores: dict[str, float] = {}
    for prefix, part in [("", frame)] + [(f"{t}/", g) for t, g in frame.groupby("type", sort=True)]:
        acc = {s: float(part.loc[part["stereotype"] == s, "correct"].mean() * 100.0) for s in ("pro", "anti")}
        scores |= {f"{prefix}pro": acc["pro"], f"{prefix}anti": acc["anti"], f"{prefix}gap": acc["pro"] - acc["anti"],
                   f"{prefix}accuracy": float(part["correct"].mean() * 100.0)}
    return scores


@dataclass
class WinoBias(Benchmark):
    """WinoBias pronoun preference; scores ``pro``, ``anti``, ``gap``, ``accuracy`` and the same per type.

    ``limit`` keeps the first N sentences of each (split, type, pro/anti) file.
    """

    name: str = "winobias"
    split: Literal["dev", "test", "all"] = "test"
    source: PathLike | None = None

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        rows = load_winobias(self.split, self.source)
        if limit is not None:
            rows = [r for r in rows if r["line"] <= limit]
        texts, owner = [], []
        for i, r in enumerate(rows):
            for t in [r["sentence"]] + winobias_counterfactuals(r["sentence"], r["pronoun_spans"]):
                texts.append(t)
                owner.append(i)
        scores = scorer.score(texts, "sum", desc=self.name)
        owner_arr = np.array(owner)
        first = np.r_[0, np.flatnonzero(np.diff(owner_arr)) + 1]
        written = scores[first]
        best_swap = np.array([scores[s + 1 : e].max() for s, e in zip(first, np.r_[first[1:], len(scores)])])
        frame = pd.DataFrame.from_records([{k: v for k, v in r.items() if k != "pronoun_spans"} for r in rows])
        frame["score_written"], frame["score_swapped"] = written, best_swap
        frame["correct"] = written > best_swap
        return BenchmarkResult(self.name, winobias_summary(frame), frame, self.config())


register(WinoBias())

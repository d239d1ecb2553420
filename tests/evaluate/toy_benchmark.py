"""A benchmark added in one file plus its registration (issue 21): pronoun agreement margins.

Items: sentence pairs whose first sentence is the grammatical one. Per item: the log-probability margin
(good − bad). Scores: ``mean_margin`` and ``accuracy`` (item means) and ``median_margin`` (no item mean:
its item interval resamples the rows through :meth:`aggregate`). Register it with
``register(PronounAgreement())``; nothing else in babybias needs to change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from babybias.evaluate import Benchmark

PAIRS = (("she is tall .", "she are tall ."), ("he was here .", "he were here ."), ("they are late .", "they is late ."),
         ("we were there .", "we was there ."), ("it is red .", "it are red ."), ("i am fine .", "i is fine ."),
         ("you are kind .", "you is kind ."), ("she has left .", "she have left ."))


@dataclass
class PronounAgreement(Benchmark):
    """Does the model prefer the agreeing verb? Margins per pair, their mean, median and the accuracy."""

    name: str = "pronoun_agreement"

    def evaluate(self, scorer, limit=None):
        pairs = PAIRS[:limit]
        scores = scorer.score([g for g, _ in pairs] + [b for _, b in pairs])
        rows = pd.DataFrame({"good": [g for g, _ in pairs], "bad": [b for _, b in pairs],
                             "margin": scores[: len(pairs)] - scores[len(pairs):]})
        return self.result(rows)

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        margin = rows["margin"].to_numpy(dtype=float)
        return {"mean_margin": float(margin.mean()), "median_margin": float(np.median(margin)),
                "accuracy": float(100.0 * (margin > 0).mean()), "n_items": float(len(margin))}

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        margin = rows["margin"].to_numpy(dtype=float)
        return {"mean_margin": margin, "accuracy": 100.0 * (margin > 0)}.get(key)

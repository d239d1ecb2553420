"""Minimal-pair ability benchmarks: BLiMP (full or BabyLM-filtered), the BabyLM BLiMP supplement, EWoK.

A pair is correct when the acceptable item scores at least as high as the unacceptable one (a
tie counts as correct, as lm-evaluation-harness's argmax and the BabyLM 2025 pipeline's
``torch.max`` pick the first choice); ``tie="half"`` counts a tie as half a correct pair instead.
Every benchmark reports ``ties`` (percent of tied pairs) and warns when it exceeds 1 %, because a
model that gives every pair identical scores gets 100 % under ``tie="correct"``. How a sentence
is scored is a named variant, because the choice alone moves the number:

====================  =========================================  =====================  ==========
variant               masked LM                                  causal LM              used by
====================  =========================================  =====================  ==========
``babylm2024``        **mean** token PLL (minicons default)       **sum** log-lik        BabyLM 2024 pipeline (lm-eval fork + minicons)
``babylm2025``        **sum** token PLL                           **sum** log-lik        BabyLM 2025 pipeline (``sentence_zero_shot``)
====================  =========================================  =====================  ==========

Both pipelines use the "original" PLL (each token masked alone), the scorer's default;
``pll="within_word_l2r"`` (Kauf & Ivanova 2023) on the benchmark or on ``evaluate`` switches it.
Causal LMs: ``babylm2024`` scores every token after the BOS/EOS prefix (lm-evaluation-harness);
``babylm2025`` prefixes the tokenizer's BOS only when it has one, and otherwise feeds the text
as is and leaves its first token unscored (``process_causal_sentences``).
"""

from __future__ import annotations

from dataclasses import dataclass
import warnings
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from ..helpers.paths import is_hub
from .loaders import PathLike, load_blimp, load_ewok, load_minimal_pairs
from .registry import Benchmark, MissingDataError, register
from .results import BenchmarkResult
from .scoring import PLL_METHODS, LMScorer, PLLMethod, reduce_log_probs

Variant = Literal["babylm2024", "babylm2025"]
TieRule = Literal["correct", "half"]
TIE_RULES: tuple[str, ...] = ("correct", "half")
TIE_WARN_PERCENT = 1.0
REDUCTIONS: dict[str, dict[str, str]] = {
    "babylm2024": {"mlm": "mean", "clm": "sum"},
    "babylm2025": {"mlm": "sum", "clm": "sum"},
}


def reduction_for(variant: str, kind: str) -> str:
    check_options(variant)
    return REDUCTIONS[variant][kind]


def check_options(variant: str, tie: str = "correct", pll: str | None = None) -> None:
    """One-line ValueErrors for a bad ``variant``, ``tie`` or ``pll`` field."""
    if variant not in REDUCTIONS:
        raise ValueError(f"variant must be one of {sorted(REDUCTIONS)}, got {variant!r}")
    if tie not in TIE_RULES:
        raise ValueError(f"tie must be one of {TIE_RULES}, got {tie!r}")
    if pll is not None and pll not in PLL_METHODS:
        raise ValueError(f"pll must be one of {PLL_METHODS} or None, got {pll!r}")


def causal_bos(variant: str, scorer: LMScorer) -> Literal["prefix", "none"]:
    """``"none"`` for ``babylm2025`` with a tokenizer without BOS (first token unscored), else ``"prefix"``."""
    if scorer.kind == "clm" and variant == "babylm2025" and scorer.tokenizer.bos_token_id is None:
        return "none"
    return "prefix"


def score_pairs(
    scorer: LMScorer,
    contexts: Sequence[str],
    good: Sequence[str],
    bad: Sequence[str],
    variant: str,
    pll: PLLMethod | None = None,
    desc: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ``good`` and ``bad`` continuations of ``contexts`` ("" = whole sentences).

    ``pll=None`` uses the scorer's own PLL method (``"original"`` unless it was built otherwise).
    """
    reduction = reduction_for(variant, scorer.kind)
    n = len(good)
    lps = scorer.continuation_log_probs(list(contexts) * 2, list(good) + list(bad), pll=pll, desc=desc,
                                        bos=causal_bos(variant, scorer))
    scores = reduce_log_probs(lps, reduction)
    return scores[:n], scores[n:]


def limit_per_group(rows: list[dict], key: str, limit: int | None) -> list[dict]:
    """The first ``limit`` rows of each ``key`` group (all rows when ``limit`` is None)."""
    if limit is None:
        return rows
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        if seen.get(r[key], 0) < limit:
            seen[r[key]] = seen.get(r[key], 0) + 1
            out.append(r)
    return out


def group_accuracy(frame: pd.DataFrame, by: str, prefix: str) -> dict[str, float]:
    """Percent correct per value of ``by`` (keys ``"<prefix>/<value>"``)."""
    acc = frame.groupby(by, sort=True)["correct"].mean() * 100.0
    return {f"{prefix}/{k}": float(v) for k, v in acc.items()}


def _pair_frame(rows: list[dict], good: np.ndarray, bad: np.ndarray, tie: str = "correct") -> pd.DataFrame:
    """Per-pair rows with ``tie`` (scores equal) and ``correct`` (bool, or 1/0.5/0 with ``tie="half"``)."""
    frame = pd.DataFrame.from_records(rows)
    frame["score_good"] = good
    frame["score_bad"] = bad
    frame["tie"] = good == bad
    frame["correct"] = good >= bad if tie == "correct" else (good > bad) + 0.5 * (good == bad)
    return frame


def tie_scores(frame: pd.DataFrame, name: str, tie: str) -> dict[str, float]:
    """``{"ties": percent of tied pairs}``; warns above :data:`TIE_WARN_PERCENT`."""
    pct = float(frame["tie"].mean() * 100.0) if len(frame) else 0.0
    if pct > TIE_WARN_PERCENT:
        warnings.warn(f"{name}: {pct:.2f}% of pairs are ties (identical scores), each counted as "
                      f"{'correct' if tie == 'correct' else 'half correct'} (tie={tie!r}); see scores['ties']", stacklevel=3)
    return {"ties": pct}


@dataclass
class BLiMP(Benchmark):
    """BLiMP (Warstadt et al. 2020): 67 paradigms x 1,000 pairs, or the BabyLM-filtered 59,875.

    Scores (percent): ``overall`` = macro mean over paradigms; ``paradigm/<UID>``;
    ``phenomenon/<linguistics_term>`` and ``field/<field>`` = macro mean of their paradigms.
    ``limit`` caps pairs per paradigm.
    """

    name: str = "blimp"
    subset: Literal["full", "babylm_filtered"] = "full"
    variant: Variant = "babylm2024"
    pll: PLLMethod | None = None
    source: PathLike | None = None
    tie: TieRule = "correct"

    def __post_init__(self) -> None:
        if self.subset not in ("full", "babylm_filtered"):
            raise ValueError(f"BLiMP subset must be 'full' or 'babylm_filtered', got {self.subset!r}")
        check_options(self.variant, self.tie, self.pll)

    def check_data(self) -> None:
        if self.source is not None and not is_hub(self.source):  # the shipped copy is known good; a hub copy downloads later
            load_blimp(self.source, subset=self.subset)

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        rows = limit_per_group(load_blimp(self.source, subset=self.subset), "UID", limit)
        good, bad = score_pairs(scorer, [""] * len(rows), [r["sentence_good"] for r in rows],
                                [r["sentence_bad"] for r in rows], self.variant, self.pll, desc=self.name)
        frame = _pair_frame(rows, good, bad, self.tie)
        per_paradigm = frame.groupby("UID")["correct"].mean() * 100.0
        meta = frame.drop_duplicates("UID").set_index("UID")[["phenomenon", "field"]]
        scores = {"overall": float(per_paradigm.mean()), "micro": float(frame["correct"].mean() * 100.0)}
        scores |= tie_scores(frame, self.name, self.tie)
        for col in ("phenomenon", "field"):
            grouped = per_paradigm.groupby(meta.loc[per_paradigm.index, col]).mean()
            scores.update({f"{col}/{k}": float(v) for k, v in grouped.items()})
        scores.update({f"paradigm/{k}": float(v) for k, v in per_paradigm.items()})
        return BenchmarkResult(self.name, scores, frame, self.config() | {"n_pairs": len(frame)})


@dataclass
class MinimalPairs(Benchmark):
    """Any minimal-pair file or folder of ``.jsonl`` files (one task per file), e.g. the BLiMP supplement.

    Scores: ``overall`` = macro mean over tasks, ``task/<file stem>``; ``limit`` caps pairs per task.
    """

    name: str = "minimal_pairs"
    source: PathLike | None = None
    good_field: str = "sentence_good"
    bad_field: str = "sentence_bad"
    variant: Variant = "babylm2024"
    pll: PLLMethod | None = None
    tie: TieRule = "correct"

    def __post_init__(self) -> None:
        check_options(self.variant, self.tie, self.pll)

    def _rows(self) -> list[dict]:
        if self.source is None:
            raise MissingDataError(self.name, "a .jsonl file of minimal pairs or a folder of them")
        return load_minimal_pairs(self.source, self.good_field, self.bad_field)

    def check_data(self) -> None:
        self._rows()

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        rows = limit_per_group(self._rows(), "task", limit)
        good, bad = score_pairs(scorer, [""] * len(rows), [r["sentence_good"] for r in rows],
                                [r["sentence_bad"] for r in rows], self.variant, self.pll, desc=self.name)
        frame = _pair_frame(rows, good, bad, self.tie)
        per_task = group_accuracy(frame, "task", "task")
        scores = {"overall": float(np.mean(list(per_task.values()))), "micro": float(frame["correct"].mean() * 100.0)}
        scores |= tie_scores(frame, self.name, self.tie)
        return BenchmarkResult(self.name, scores | per_task, frame, self.config() | {"n_pairs": len(frame)})


@dataclass
class BlimpSupplement(MinimalPairs):
    """The BabyLM BLiMP supplement (hypernym, qa_congruence_easy/tricky, subject_aux_inversion,
    turn_taking). Not shipped (no stated license): pass ``source=`` the folder of its ``.jsonl`` files."""

    name: str = "blimp_supplement"

    def _rows(self) -> list[dict]:
        if self.source is None:
            raise MissingDataError(self.name, "the folder of the supplement's .jsonl files",
                                   why="is not shipped with babybias (its data has no stated license)")
        return super()._rows()


@dataclass
class EWoK(Benchmark):
    """EWoK (Ivanova et al. 2024): is log P(target | context) higher for the target that fits?

    Not shipped (its terms of use allow only password-protected zips): ``source`` is the user's
    ``ewok_filtered`` folder, an EWoK-core-1.0 export, or a zip of either with ``password``.
    Scores (percent): ``overall`` = macro mean over domains, ``micro``, ``domain/<Domain>``.
    """

    name: str = "ewok"
    source: PathLike | None = None
    password: str | None = None
    variant: Variant = "babylm2024"
    pll: PLLMethod | None = None
    tie: TieRule = "correct"

    def __post_init__(self) -> None:
        check_options(self.variant, self.tie, self.pll)

    def _rows(self) -> list[dict]:
        if self.source is None:
            raise MissingDataError(self.name, "the ewok_filtered folder, an EWoK-core-1.0 file, or their zip",
                                   why="is not shipped with babybias (EWoK's terms of use forbid plain-text copies)",
                                   password=True)
        return load_ewok(self.source, self.password)

    def check_data(self) -> None:
        if not is_hub(self.source):  # a hub copy is downloaded when it is scored
            self._rows()

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        rows = limit_per_group(self._rows(), "domain", limit)
        good, bad = score_pairs(scorer, [r["context"] for r in rows], [r["target_good"] for r in rows],
                                [r["target_bad"] for r in rows], self.variant, self.pll, desc=self.name)
        frame = _pair_frame(rows, good, bad, self.tie)
        per_domain = group_accuracy(frame, "domain", "domain")
        scores = {"overall": float(np.mean(list(per_domain.values()))), "micro": float(frame["correct"].mean() * 100.0)}
        scores |= tie_scores(frame, self.name, self.tie)
        return BenchmarkResult(self.name, scores | per_domain, frame, self.config() | {"password": None, "n_items": len(frame)})


register(BLiMP())
register(BLiMP(name="blimp_filtered", subset="babylm_filtered"))
register(BlimpSupplement())
register(EWoK())

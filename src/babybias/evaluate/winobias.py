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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .loaders import DataFormatError, PathLike, data_path, read_text, resolve_source
from .registry import Benchmark, register
from .results import BenchmarkResult
from .scoring import LMScorer


# ----------------------------------------------------------------------------------------- data

WINOBIAS_PRONOUNS = {
    "he": ("she",), "she": ("he",), "him": ("her",), "his": ("her",), "hers": ("his",),
    "himself": ("herself",), "herself": ("himself",),
    # "her" is object or possessive: both readings are tried and the better-scoring one is kept.
    "her": ("him", "his"),
}


_BRACKET = re.compile(r"\[([^\]]*)\]")



def load_winobias(split: str = "test", source: PathLike | None = None) -> list[dict]:
    """WinoBias sentences: ``file, line, type, stereotype ('pro'|'anti'), sentence, pronoun_spans, referent``.

    ``sentence`` has the brackets removed; ``pronoun_spans`` are the character spans of the
    bracketed pronouns in it (every bracket after the referent's).
    """
    if split not in ("dev", "test", "all"):
        raise ValueError(f"WinoBias split must be 'dev', 'test' or 'all', got {split!r}")
    folder = data_path("winobias") if source is None else resolve_source(source)
    rows = []
    for sp in ("dev", "test") if split == "all" else (split,):
        for typ in ("type1", "type2"):
            for stereo in ("pro", "anti"):
                path = folder / f"{stereo}_stereotyped_{typ}.txt.{sp}"
                if not path.exists():
                    raise FileNotFoundError(f"{path} is missing (WinoBias folder needs pro/anti x type1/type2 x dev/test)")
                for lineno, line in enumerate(read_text(path).splitlines(), start=1):
                    if line.strip():
                        rows.append(_winobias_row(line, path, lineno, sp, typ, stereo))
    return rows



def _winobias_row(line: str, path: Path, lineno: int, split: str, typ: str, stereo: str) -> dict:
    m = re.match(r"^\d+ (.*)$", line.strip())
    if not m:
        raise DataFormatError(path, "expected '<n> <sentence>'", line=lineno)
    raw = m.group(1)
    spans, text, last = [], [], 0
    for b in _BRACKET.finditer(raw):
        text.append(raw[last : b.start()])
        start = sum(len(t) for t in text)
        inner = b.group(1)
        text.append(inner)
        spans.append((start, start + len(inner), inner))
        last = b.end()
    text.append(raw[last:])
    sentence = "".join(text)
    if len(spans) < 2:
        raise DataFormatError(path, f"expected a bracketed referent and pronoun, found {len(spans)} bracket(s)", line=lineno)
    pronouns = []
    for s, e, inner in spans[1:]:
        word = inner.strip()
        if word.lower() not in WINOBIAS_PRONOUNS:
            raise DataFormatError(path, f"bracketed {word!r} is not a gendered pronoun", line=lineno)
        off = inner.index(word)
        pronouns.append((s + off, s + off + len(word)))
    return {"split": split, "type": typ, "stereotype": stereo, "file": path.name, "line": lineno,
            "sentence": sentence, "referent": spans[0][2].strip(), "pronoun_spans": pronouns}



def winobias_counterfactuals(sentence: str, spans: list[tuple[int, int]]) -> list[str]:
    """Every gender-swapped version of ``sentence`` (one per reading of each ambiguous 'her')."""
    options = []
    for s, e in spans:
        word = sentence[s:e]
        swaps = WINOBIAS_PRONOUNS[word.lower()]
        options.append([w.capitalize() if word[0].isupper() else w for w in swaps])
    out = [""]
    last = 0
    for (s, e), opts in zip(spans, options):
        out = [prefix + sentence[last:s] + o for prefix in out for o in opts]
        last = e
    return [prefix + sentence[last:] for prefix in out]



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
        return self.result(frame)

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """:func:`winobias_summary`: pro, anti, gap, accuracy, overall and per type."""
        return winobias_summary(rows)

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """``pro``/``anti``/``accuracy``: 100 × correct; ``gap``: 100 × (pro − anti) per pro/anti twin pair (same
        split, type and line); ``bias`` = 50 + gap/2; each also per ``type1/`` and ``type2/``."""
        m = re.fullmatch(r"(?:(type1|type2)/)?(pro|anti|gap|accuracy|bias)", key)
        if m is None:
            return None
        part = rows if m.group(1) is None else rows[rows["type"] == m.group(1)]
        what = m.group(2)
        if what in ("pro", "anti"):
            return 100.0 * part.loc[part["stereotype"] == what, "correct"].to_numpy(dtype=float)
        if what == "accuracy":
            return 100.0 * part["correct"].to_numpy(dtype=float)
        wide = part.pivot_table(index=["split", "type", "line"], columns="stereotype", values="correct", aggfunc="first")
        if wide[["pro", "anti"]].isna().any().any():
            return None  # unpaired sentences: the gap is not a mean over pairs
        gap = 100.0 * (wide["pro"].to_numpy(dtype=float) - wide["anti"].to_numpy(dtype=float))
        return gap if what == "gap" else 50.0 + gap / 2.0


register(WinoBias())

"""Toxicity filtering with pluggable scorers, and its control ablation.

A scorer is anything with ``score(texts) -> sequence of floats in [0, 1]`` (:class:`ToxicityScorer`).
Built in:

* :class:`ProfanityCheckScorer` — the trained linear SVM shipped by the PyPI package
  ``alt-profanity-check`` (offline; ``pip install babybias[toxicity]``);
* :class:`WordListScorer` — 1.0 if the text contains a listed word or phrase (word-boundary,
  case-insensitive), else 0.0; default list LDNOOBW English (shipped);
* :class:`TransformersScorer` — any ``transformers`` text-classification model (e.g. a
  Detoxify-style hub model the user has), score = probability of its toxic label.

:class:`ToxicityFilter` removes units (documents or sentences) scoring ≥ ``threshold``;
:class:`RandomRemoval` removes the same number of randomly chosen *non-toxic* units, so a
filter's effect can be told apart from the effect of simply having less data. Given a
``target`` (a number of units or words, or the :class:`Report` of *any* filter, matched by default
to its ``words_removed``) it removes that much instead, so any filter gets a matched control; with
``scorer=None`` no unit is protected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import datasets
import numpy as np

from .controls import pick_words, record_target_notes, resolve_target
from .core import (TEXT, Intervention, Report, as_corpus, check_text, column_values, count_tokens, count_words, require_column,
                   split_sentences)
from .wordlists import offensive_words, word_regex


@runtime_checkable
class ToxicityScorer(Protocol):
    def score(self, texts: Sequence[str]) -> Sequence[float]:
        """Toxicity in [0, 1] for each text."""


class ProfanityCheckScorer:
    """``alt-profanity-check``'s ``predict_prob`` (a linear SVM on character/word n-grams, trained on
    ~200k labelled comments; runs offline)."""

    def __init__(self) -> None:
        try:
            from profanity_check import predict_prob
        except ImportError as err:
            raise ImportError("ProfanityCheckScorer needs the alt-profanity-check package: pip install 'babybias[toxicity]'") from err
        self._predict = predict_prob

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._predict(list(texts)), dtype=float) if len(texts) else np.zeros(0)


class WordListScorer:
    """1.0 when a listed word/phrase occurs (word-boundary, case-insensitive), else 0.0."""

    def __init__(self, words: Sequence[str] | None = None) -> None:
        words = offensive_words() if words is None else list(words)
        self._pattern = word_regex(" ".join(w.lower().split()) for w in words if w.strip())

    def score(self, texts: Sequence[str]) -> np.ndarray:
        # phrases are matched with single spaces, so runs of whitespace in the text are collapsed first
        return np.array([float(self._pattern.search(" ".join(t.split())) is not None) for t in texts])


class TransformersScorer:
    """A ``transformers`` text-classification model; score = probability of ``toxic_label``."""

    def __init__(self, model: str, toxic_label: str = "toxic", device: int | str | None = None, batch_size: int = 32,
                 tokenizer=None) -> None:
        from transformers import pipeline

        self.pipe = model if callable(model) else pipeline("text-classification", model=model, tokenizer=tokenizer,
                                                            device=device, top_k=None, truncation=True)
        self.toxic_label = toxic_label.lower()
        self.batch_size = batch_size

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for result in self.pipe(list(texts), batch_size=self.batch_size):
            labels = {r["label"].lower(): r["score"] for r in (result if isinstance(result, list) else [result])}
            if self.toxic_label not in labels:
                raise KeyError(f"the classifier has no label {self.toxic_label!r}; its labels are {sorted(labels)}")
            out.append(labels[self.toxic_label])
        return np.asarray(out, dtype=float)


def _unit_scores(corpus: datasets.Dataset, scorer: ToxicityScorer, level: str, batch_size: int, num_proc: int | None):
    """(documents, units, sentences per document, scores per unit); scoring runs in ``datasets.map``."""
    if level not in ("document", "sentence"):
        raise ValueError(f"level must be 'document' or 'sentence', got {level!r}")

    def score_batch(batch, indices):
        groups = [[check_text(t, i)] if level == "document" else split_sentences(check_text(t, i))
                  for t, i in zip(batch[TEXT], indices)]
        flat = [u for g in groups for u in g]
        scores = np.asarray(scorer.score(flat), dtype=float) if flat else np.zeros(0)
        if len(scores) != len(flat):
            raise ValueError(f"the scorer returned {len(scores)} scores for {len(flat)} texts")
        out, start = [], 0
        for g in groups:
            out.append(scores[start : start + len(g)].tolist())
            start += len(g)
        return {"_units": groups, "_scores": out}

    scored = corpus.map(score_batch, batched=True, batch_size=batch_size, with_indices=True, num_proc=num_proc,
                        remove_columns=corpus.column_names, desc="scoring toxicity")
    groups, group_scores = column_values(scored, "_units"), column_values(scored, "_scores")
    units = [u for g in groups for u in g]
    scores = np.array([x for g in group_scores for x in g], dtype=float)
    return column_values(corpus), units, [len(g) for g in groups], scores


class _NoScorer:
    """Scores every text 0: no unit is protected (``RandomRemoval(scorer=None)``)."""

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros(len(texts))


def _rebuild(corpus: datasets.Dataset, texts, units, sizes, keep: np.ndarray, level: str, report: Report,
             tokenizer: Any = None):
    """Drop the units where ``keep`` is False; a document whose sentences all go is dropped too."""
    report.units_in = len(units)
    report.words_in = sum(count_words(u) for u in units)
    report.units_removed = int((~keep).sum())
    report.units_out = int(keep.sum())
    report.words_changed = sum(count_words(u) for u, k in zip(units, keep) if not k)
    report.words_removed = report.words_changed
    report.words_out = report.words_in - report.words_removed
    if tokenizer is not None:
        report.tokens_removed = count_tokens([u for u, k in zip(units, keep) if not k], tokenizer)
    if level == "document":
        return corpus.select(np.flatnonzero(keep)), report.check()
    new_texts, rows, start = [], [], 0
    for d, n in enumerate(sizes):
        kept = [units[start + j] for j in range(n) if keep[start + j]]
        start += n
        if kept:
            rows.append(d)
            new_texts.append(" ".join(kept))
    report.notes["documents_in"] = len(texts)
    report.notes["documents_removed"] = len(texts) - len(rows)
    kept = corpus.select(rows)
    columns = {c: (new_texts if c == TEXT else kept[c]) for c in corpus.column_names}
    return datasets.Dataset.from_dict(columns, features=corpus.features), report.check()


@dataclass
class ToxicityFilter(Intervention):
    """Remove units with toxicity ≥ ``threshold``; ``level`` = "document" or "sentence" (sentences
    are rejoined with single spaces). The report counts units at that level."""

    scorer: ToxicityScorer = field(default_factory=WordListScorer)
    threshold: float = 0.5
    level: str = "document"
    batch_size: int = 1024
    tokenizer: Any = None  # optional: also report the tokens removed (``tokens_removed``)
    name = "toxicity-filter"

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        _require_dataset(corpus, "ToxicityFilter")
        require_column(corpus)
        texts, units, sizes, scores = _unit_scores(corpus, self.scorer, self.level, self.batch_size, num_proc)
        keep = scores < self.threshold
        report = Report("toxicity-filter", self.params() | {"scorer": type(self.scorer).__name__}, unit=self.level)
        report.notes["toxic_units"] = int((~keep).sum())
        return _rebuild(corpus, texts, units, sizes, keep, self.level, report, self.tokenizer)


@dataclass
class RandomRemoval(Intervention):
    """Control for a filter: remove randomly chosen units the scorer does not flag, keeping every flagged one.

    How much: ``target`` — an int (units, or words with ``match="words"``) or the :class:`Report`
    of the filter to match (by default its ``words_removed``; ``match="units"``: its
    ``units_removed``); else ``count`` units (kept for compatibility); else as many units as the
    scorer flags (the toxicity control). ``scorer=None`` flags nothing (a control for a length or
    quality filter). Words are matched within 1 % (see :mod:`babybias.corpus.controls`).
    """

    scorer: ToxicityScorer | None = field(default_factory=WordListScorer)
    threshold: float = 0.5
    level: str = "document"
    count: int | None = None
    seed: int = 0
    batch_size: int = 1024
    target: int | Report | None = None
    match: str | None = None
    tokenizer: Any = None
    name = "random-removal"

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        _require_dataset(corpus, "RandomRemoval")
        require_column(corpus)
        if self.count is not None and self.target is not None:
            raise ValueError(f"give count or target, not both (count={self.count}, target={self.target!r})")
        scorer = _NoScorer() if self.scorer is None else self.scorer
        texts, units, sizes, scores = _unit_scores(corpus, scorer, self.level, self.batch_size, num_proc)
        toxic = scores >= self.threshold
        if self.target is not None:
            amount, match = resolve_target(self.target, self.match, "removed")
            if isinstance(self.target, Report) and match == "units" and self.target.unit != self.level:
                raise ValueError(f"the target report counts {self.target.unit}s but level={self.level!r}; "
                                 f"match words or use level={self.target.unit!r}")
        else:
            amount, match = (int(toxic.sum()) if self.count is None else int(self.count)), "units"
        candidates = np.flatnonzero(~toxic)
        rng = np.random.default_rng(self.seed)
        if match == "units":
            if amount > len(candidates):
                raise ValueError(f"cannot remove {amount} unflagged {self.level}s: only {len(candidates)} exist")
            drop = rng.choice(candidates, size=amount, replace=False)
        else:
            lengths = np.array([count_words(units[i]) for i in candidates], dtype=np.int64)
            if amount > lengths.sum():
                raise ValueError(f"cannot remove {amount} words: the unflagged {self.level}s hold only {int(lengths.sum())}")
            drop = candidates[pick_words(lengths, amount, rng, cycle=False)]
        keep = np.ones(len(units), dtype=bool)
        keep[drop] = False
        params = self.params() | {"scorer": type(self.scorer).__name__ if self.scorer is not None else None}
        report = Report("random-removal", params, unit=self.level)
        report.notes["toxic_units_kept"] = int(toxic.sum())
        out, report = _rebuild(corpus, texts, units, sizes, keep, self.level, report, self.tokenizer)
        record_target_notes(report, self.target, amount, match, "removed")
        if isinstance(self.target, Report) and self.target.tokens_removed is not None and self.tokenizer is not None:
            report.notes["tokens_target"] = self.target.tokens_removed
        return out, report


def _require_dataset(corpus, what: str) -> None:
    if not isinstance(corpus, datasets.Dataset):
        raise TypeError(f"{what} needs a datasets.Dataset (it counts and samples over the whole corpus); "
                        f"got {type(corpus).__name__}")

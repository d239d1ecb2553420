"""Counterfactual data augmentation (CDA) and substitution (CDS).

* :class:`CDA` (Zmigrod et al. 2019; Webster et al. 2020, as used by the bias-bench survey):
  swap every listed word for its counterpart. ``two_sided=True`` keeps each original unit and
  adds its counterfactual right after it (only units that contain a listed word get one);
  ``two_sided=False`` (one-sided) replaces units in place.
* :class:`CDS` (Maudslay et al. 2019): replace each unit that contains a listed word by its
  counterfactual with probability 0.5 (a per-unit coin from ``seed``), never duplicating.

Words are matched case-insensitively at word boundaries and replaced in the original's
capitalisation; "her"/"his" follow the possessive rule of :mod:`babybias.corpus.wordlists`.
The default list is the shipped Zhao et al. 2018 gender pairs; pass any :class:`WordPairs`
(names, another bias axis) instead or added.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import datasets

from typing import Any

from .core import TEXT, Intervention, Report, as_corpus, check_text, count_tokens, count_words, require_column, unit_random
from .wordlists import Swapper, WordPairs


STATS = ("_n_swaps", "_terms", "_words", "_changed", "_added", "_out_words", "_skipped")
# Explicit types of the statistics columns: without them ``datasets.map`` infers each 1,000-row batch's
# types on its own, and a first batch whose lists are all empty types ``_terms``/``_skipped`` as lists of
# null, which a later batch holding strings cannot be cast to.
STAT_FEATURES = {"_n_swaps": datasets.Value("int64"), "_terms": datasets.Sequence(datasets.Value("string")),
                 "_words": datasets.Value("int64"), "_changed": datasets.Value("int64"), "_added": datasets.Value("int64"),
                 "_out_words": datasets.Value("int64"), "_skipped": datasets.Sequence(datasets.Value("string"))}
CDS_STATS = ("_n_swaps", "_terms", "_words", "_changed", "_out_words")
CDA_STATS = CDS_STATS + ("_added",)


def _sorted_counts(counter: Counter) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _aggregate(report: Report, mapped, columns=STATS) -> None:
    """Fill ``report`` from the per-row statistics columns an intervention's map wrote (Arrow compute).

    ``_out_words`` (words of each output row) gives ``words_out`` and ``words_added`` (rows with
    ``_added``); ``words_rewrite_delta`` sums ``_out_words - _words`` over the rows not added, each
    counted independently so that :meth:`Report.check` can fail; ``_skipped`` lists skipped term occurrences."""
    import pyarrow.compute as pc

    table = mapped.with_format("arrow")[:]
    total = lambda name: int(pc.sum(table[name]).as_py() or 0) if name in table.column_names else 0  # noqa: E731
    report.words_changed += total("_n_swaps")
    report.words_in += total("_words")
    report.units_changed += total("_changed")
    report.units_added += total("_added")
    counts = pc.value_counts(pc.list_flatten(table["_terms"])).to_pylist() if len(table) else []
    report.terms = _sorted_counts(Counter({c["values"]: c["counts"] for c in counts}))
    if "_skipped" in table.column_names and len(table):
        counts = pc.value_counts(pc.list_flatten(table["_skipped"])).to_pylist()
        report.skipped = _sorted_counts(Counter({c["values"]: c["counts"] for c in counts if c["values"] is not None}))
    if "_out_words" in table.column_names:
        added = table["_added"] if "_added" in table.column_names else None
        report.words_out = total("_out_words")
        report.words_added = int(pc.sum(pc.multiply(table["_out_words"], added)).as_py() or 0) if added is not None else 0
        # counted on its own (not as the leftover), so that ``Report.check()`` really compares: each row that
        # is not added contributes its output words minus the input words of its unit
        delta = pc.subtract(table["_out_words"], table["_words"])
        if added is not None:
            delta = pc.multiply(delta, pc.subtract(1, added))
        report.words_rewrite_delta = int(pc.sum(delta).as_py() or 0)


def _added_tokens(mapped, tokenizer) -> int:
    """Tokens in the rows a map marked ``_added``."""
    import pyarrow.compute as pc

    table = mapped.with_format("arrow")[:]
    if "_added" not in table.column_names:
        return 0
    # filter in Arrow first: only the added rows' texts become Python strings
    texts = pc.filter(table[TEXT], pc.not_equal(table["_added"], 0)).to_pylist()
    return count_tokens(texts, tokenizer)


@dataclass
class CDA(Intervention):
    """Counterfactual data augmentation; ``two_sided`` keeps originals and adds counterfactuals."""

    pairs: WordPairs = field(default_factory=WordPairs.gender)
    two_sided: bool = True
    tokenizer: Any = None  # optional: also report the tokens added (``tokens_added``)
    name = "cda"

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        swapper = Swapper(self.pairs)
        report = Report("cda-two-sided" if self.two_sided else "cda-one-sided", self.params() | {"pairs": self.pairs.source})
        two_sided = self.two_sided

        def swap_batch(batch, indices):
            columns = list(batch)
            out = {c: [] for c in columns} | {"_n_swaps": [], "_terms": [], "_words": [], "_changed": [], "_added": [],
                                              "_out_words": []}
            for k, i in enumerate(indices):
                text = check_text(batch[TEXT][k], i)
                new, replaced = swapper.swap(text)
                rows = [(text, 0)] + ([(new, 1)] if replaced else []) if two_sided else [(new, 0)]
                for j, (t, is_added) in enumerate(rows):
                    for c in columns:
                        out[c].append(t if c == TEXT else batch[c][k])
                    first = j == 0
                    out["_n_swaps"].append(len(replaced) if first else 0)
                    out["_terms"].append(replaced if first else [])
                    out["_words"].append(count_words(text) if first else 0)
                    out["_changed"].append(int(bool(replaced)) if first else 0)
                    out["_added"].append(is_added)
                    out["_out_words"].append(count_words(t))
            return out

        return _run(corpus, swap_batch, report, num_proc, "CDA", self.tokenizer, stats=CDA_STATS)


@dataclass
class CDS(Intervention):
    """Counterfactual data substitution: each unit with a listed word is swapped with probability ``p``."""

    pairs: WordPairs = field(default_factory=WordPairs.gender)
    p: float = 0.5
    seed: int = 0
    name = "cds"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {self.p}")

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        swapper = Swapper(self.pairs)
        report = Report("cds", self.params() | {"pairs": self.pairs.source})
        seed, p = self.seed, self.p

        def sub_batch(batch, indices):
            out = dict(batch) | {TEXT: [], "_n_swaps": [], "_terms": [], "_words": [], "_changed": [], "_out_words": []}
            for k, i in enumerate(indices):
                text = check_text(batch[TEXT][k], i)
                new, replaced = swapper.swap(text)
                flip = bool(replaced) and unit_random(seed, i).random() < p
                out[TEXT].append(new if flip else text)
                out["_n_swaps"].append(len(replaced) if flip else 0)
                out["_terms"].append(replaced if flip else [])
                out["_words"].append(count_words(text))
                out["_changed"].append(int(flip))
                out["_out_words"].append(count_words(out[TEXT][-1]))
            return out

        return _run(corpus, sub_batch, report, num_proc, "CDS", stats=CDS_STATS)


@dataclass
class KeepAttributeUnits(Intervention):
    """Keep only the units that contain a listed word (drop the rest): with :class:`CDA` after it
    (``Pipeline([KeepAttributeUnits(), CDA()])``), bias-bench's CDA data for continued pre-training,
    which keeps only the sequences with an attribute word, original and swapped."""

    pairs: WordPairs = field(default_factory=WordPairs.gender)
    name = "keep-attribute-units"

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        if not isinstance(corpus, datasets.Dataset):
            raise TypeError(f"KeepAttributeUnits needs a datasets.Dataset, got {type(corpus).__name__}")
        require_column(corpus)
        swapper = Swapper(self.pairs)
        texts = [check_text(t, i) for i, t in enumerate(corpus.with_format("arrow")[TEXT].to_pylist())]
        keep = [i for i, t in enumerate(texts) if swapper.find(t)]
        words = [count_words(t) for t in texts]
        words_in, words_out = sum(words), sum(words[i] for i in keep)
        out = corpus.select(keep)
        report = Report("keep-attribute-units", self.params() | {"pairs": self.pairs.source}, units_in=len(texts),
                        units_out=len(out), units_removed=len(texts) - len(out), words_in=words_in,
                        words_out=words_out, words_removed=words_in - words_out)
        return out, report.check()


def map_with_stats(corpus, fn, report: Report, num_proc, desc: str, tokenizer: Any = None, stats=STATS):
    """Map ``fn`` (batched, with indices) over the corpus, aggregate its statistics, drop them.

    ``fn`` returns the corpus's columns plus exactly the statistics columns ``stats`` (typed by
    :data:`STAT_FEATURES`).

    For an ``IterableDataset`` the map is lazy: the report fills in as the stream is consumed
    (``report.notes["streaming"]`` is True; call ``report.check()`` after a full pass).
    With a ``tokenizer``, ``report.tokens_added`` counts the tokens of the added rows.
    """
    stat_columns = list(STATS)
    if isinstance(corpus, datasets.IterableDataset):
        return _run_streaming(corpus, fn, report, stat_columns)
    require_column(corpus)
    features = corpus.features.copy()
    features.update({c: STAT_FEATURES[c] for c in stats})
    mapped = corpus.map(fn, batched=True, with_indices=True, num_proc=num_proc, desc=desc,
                        remove_columns=corpus.column_names, features=features)
    report.units_in = len(corpus)
    _aggregate(report, mapped, stat_columns)
    if tokenizer is not None:
        report.tokens_added = _added_tokens(mapped, tokenizer)
    mapped = mapped.remove_columns([c for c in stat_columns if c in mapped.column_names])
    report.units_out = len(mapped)
    return mapped, report.check()


_run = map_with_stats  # the name this module's transforms call it by


def _run_streaming(corpus: datasets.IterableDataset, fn, report: Report, stat_columns):
    if corpus.column_names is None or TEXT not in corpus.column_names:
        raise ValueError(f"the stream's columns are {corpus.column_names}; it needs a known {TEXT!r} column "
                         "(pass features= when building it)")
    report.notes["streaming"] = True
    terms: Counter = Counter()
    skipped: Counter = Counter()

    def counted(batch, indices):
        out = fn(batch, indices)
        report.units_in += len(indices)
        report.words_in += sum(out["_words"])
        report.words_changed += sum(out["_n_swaps"])
        report.units_changed += sum(out["_changed"])
        report.units_added += sum(out.get("_added", []))
        for t in out["_terms"]:
            terms.update(t)
        report.terms = dict(terms.most_common())
        for t in out.get("_skipped", []):
            skipped.update(t)
        report.skipped = _sorted_counts(skipped)
        if "_out_words" in out:
            added = out.get("_added", [0] * len(out["_out_words"]))
            report.words_out = (report.words_out or 0) + sum(out["_out_words"])
            report.words_added += sum(w for w, a in zip(out["_out_words"], added) if a)
            report.words_rewrite_delta += sum(o - w for o, w, a in zip(out["_out_words"], out["_words"], added) if not a)
        report.units_out += len(out[TEXT])
        return {k: v for k, v in out.items() if k not in stat_columns}

    return corpus.map(counted, batched=True, with_indices=True, remove_columns=corpus.column_names), report

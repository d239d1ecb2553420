"""Corpus plumbing shared by every intervention: validation, reports, pipelines, reading and writing.

A corpus is a ``datasets.Dataset`` (or ``IterableDataset``) with a ``text`` column; each row is
a *unit* (a document, or a sentence if you split first). Every intervention returns the new
corpus and a :class:`Report` that accounts for every unit: ``units_out == units_in +
units_added - units_removed``.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import datasets

TEXT = "text"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


class CorpusError(ValueError):
    """The corpus is not usable as given; the message says which file/row/column and why."""


@dataclass
class Report:
    """What one intervention did. Counts are of units (rows) unless they say words (whitespace-separated)
    or tokens (a tokenizer's, when one was given); ``words_changed`` counts words swapped (CDA, CDS,
    perturbation) or removed (filters), ``terms`` the swapped words. ``words_added``/``words_removed``
    are the words in added/removed units, ``words_rewrite_delta`` the net change from in-place rewrites
    ("black" → "Alaska Native" is +1); ``skipped`` counts term occurrences left alone, by
    ``"axis/term"`` (perturbation: descriptors that do not describe a person)."""

    intervention: str
    params: dict[str, Any] = field(default_factory=dict)
    unit: str = "document"
    units_in: int = 0
    units_out: int = 0
    units_changed: int = 0
    units_added: int = 0
    units_removed: int = 0
    words_in: int = 0
    words_changed: int = 0
    terms: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    # added fields (older reports lack them; ``words_out=None`` means "not accounted in words")
    words_out: int | None = None
    words_added: int = 0
    words_removed: int = 0
    words_rewrite_delta: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    tokens_added: int | None = None
    tokens_removed: int | None = None

    def check(self) -> "Report":
        """Raise if the unit counts (and, when ``words_out`` is set, the word counts) do not add up."""
        if self.units_out != self.units_in + self.units_added - self.units_removed:
            raise AssertionError(f"{self.intervention}: {self.units_in} in + {self.units_added} added - "
                                 f"{self.units_removed} removed != {self.units_out} out")
        if self.words_out is not None and self.words_out != (self.words_in + self.words_added - self.words_removed
                                                              + self.words_rewrite_delta):
            raise AssertionError(f"{self.intervention}: {self.words_in} words in + {self.words_added} added - "
                                 f"{self.words_removed} removed + {self.words_rewrite_delta} rewritten != "
                                 f"{self.words_out} out")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        top = ", ".join(f"{t}×{n}" for t, n in Counter(self.terms).most_common(8))
        return (f"{self.intervention}: {self.units_in} {self.unit}s in → {self.units_out} out "
                f"(changed {self.units_changed}, added {self.units_added}, removed {self.units_removed}); "
                f"words {self.words_in}, changed {self.words_changed}"
                + (f", added {self.words_added}" if self.words_added else "")
                + (f", removed {self.words_removed}" if self.words_removed else "")
                + (f"; top terms: {top}" if top else "")
                + (f"; skipped {sum(self.skipped.values())} non-person occurrences" if self.skipped else ""))


class Intervention:
    """Base class: ``apply(corpus, num_proc=None) -> (corpus, Report)``; subclasses are dataclasses.

    ``corpus`` is a ``datasets.Dataset`` (or ``IterableDataset``) with a ``text`` column, or a list of strings
    (:func:`as_corpus`); the result is a dataset either way."""

    name = "intervention"

    def apply(self, corpus, num_proc: int | None = None):
        raise NotImplementedError

    def __call__(self, corpus, num_proc: int | None = None):
        return self.apply(corpus, num_proc=num_proc)

    def params(self) -> dict[str, Any]:
        return {k: _param(k, v) for k, v in vars(self).items() if not k.startswith("_")}


def _param(key: str, value: Any) -> Any:
    """A JSON-friendly parameter value; a tokenizer is named, a report by its intervention."""
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if key == "tokenizer":
        return str(getattr(value, "name_or_path", "") or type(value).__name__)
    if isinstance(value, Report):
        return f"Report({value.intervention})"
    return repr(value)


@dataclass
class Pipeline:
    """Apply interventions in order; returns the final corpus and one report per step."""

    steps: Sequence[Intervention]

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        reports = []
        for step in self.steps:
            corpus, report = step.apply(corpus, num_proc=num_proc)
            reports.append(report)
        return corpus, reports

    __call__ = apply


def unit_random(seed: int, index: int, salt: int = 0) -> random.Random:
    """A random generator owned by one unit: the same for a given (seed, row, salt) whatever the
    number of processes or the batch a row lands in."""
    return random.Random((seed * 1_000_003 + salt) * 10_000_019 + index)


def count_words(text: str) -> int:
    """Whitespace-separated words: the unit every word count in a :class:`Report` uses."""
    return len(text.split())


def count_tokens(texts: Sequence[str], tokenizer: Any, batch_size: int = 1000) -> int:
    """Tokens of ``texts`` under a ``transformers`` tokenizer (no special tokens added)."""
    total = 0
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start:start + batch_size]), add_special_tokens=False)["input_ids"]
        total += sum(len(ids) for ids in enc)
    return total


def column_values(corpus: datasets.Dataset, name: str = TEXT) -> list:
    """A column as a Python list, read through Arrow (row-by-row iteration is ~10x slower)."""
    return corpus.with_format("arrow")[name].to_pylist()


def as_corpus(corpus) -> datasets.Dataset | datasets.IterableDataset:
    """``corpus`` as a dataset: a ``datasets.Dataset``/``IterableDataset`` as is, a list or tuple of strings as
    a ``Dataset`` with one ``text`` row each; anything else is a :class:`CorpusError` saying what is accepted."""
    if isinstance(corpus, (datasets.Dataset, datasets.IterableDataset)):
        return corpus
    if isinstance(corpus, (list, tuple)) and all(isinstance(t, str) for t in corpus):
        return datasets.Dataset.from_dict({TEXT: list(corpus)})
    what = "one string" if isinstance(corpus, str) else f"a {type(corpus).__name__}"
    if isinstance(corpus, (list, tuple)):
        what += f" holding {type(next(t for t in corpus if not isinstance(t, str))).__name__}"
    raise CorpusError(f"a corpus is a datasets.Dataset with a {TEXT!r} column or a list of strings, got {what}"
                      " (for a file or folder use load_corpus(path))")


def require_column(corpus, column: str = TEXT) -> None:
    """Raise :class:`CorpusError` when the corpus has no ``column``."""
    names = corpus.column_names if corpus.column_names is not None else []
    if column not in names:
        raise CorpusError(f"the corpus has no {column!r} column (columns: {names})")


def validate(corpus, column: str = TEXT, allow_empty: bool = False) -> None:
    """Raise :class:`CorpusError` for a missing column, a non-text row or (unless allowed) an empty one.

    (Interventions check each row as they map it; call this to check a corpus up front.)
    """
    require_column(corpus, column)
    if isinstance(corpus, datasets.Dataset):
        for start in range(0, len(corpus), 10_000):
            for offset, text in enumerate(corpus[start : start + 10_000][column]):
                check_text(text, start + offset, column, allow_empty)


def check_text(text: Any, index: int, column: str = TEXT, allow_empty: bool = False) -> str:
    if not isinstance(text, str):
        raise CorpusError(f"row {index}: column {column!r} holds {type(text).__name__} {text!r}, not text")
    if not allow_empty and not text.strip():
        raise CorpusError(f"row {index}: column {column!r} is empty")
    return text


def split_sentences(text: str) -> list[str]:
    """Split after ``.``, ``!`` or ``?`` followed by whitespace (a simple, documented rule)."""
    return [s for s in _SENTENCE_END.split(text) if s]


def to_sentences(corpus: datasets.Dataset, num_proc: int | None = None) -> datasets.Dataset:
    """One row per sentence, with ``document`` (source row) and ``sentence`` (position) columns."""

    def explode(batch, indices):
        out = {TEXT: [], "document": [], "sentence": []}
        for i, text in zip(indices, batch[TEXT]):
            for j, s in enumerate(split_sentences(check_text(text, i))):
                out[TEXT].append(s)
                out["document"].append(i)
                out["sentence"].append(j)
        return out

    return corpus.map(explode, batched=True, with_indices=True, remove_columns=corpus.column_names, num_proc=num_proc,
                      desc="splitting sentences")


def wikipedia_sample() -> datasets.Dataset:
    """The English Wikipedia sample shipped with babybias: 16,316 lower-cased sentences (CC BY-SA;
    ``babybias/data/ATTRIBUTION.md``). The sandbox's default corpus and the debiasers' default data."""
    import gzip
    from importlib import resources

    path = Path(str(resources.files("babybias") / "data" / "wikipedia_sample.txt.gz"))
    lines = [l for l in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines() if l.strip()]
    return datasets.Dataset.from_dict({TEXT: lines})


CORPUS_SUFFIXES = (".txt", ".train", ".md")


def is_hub_corpus(source: str | os.PathLike) -> bool:
    """True when :func:`load_corpus` reads ``source`` from the hub (an ``org/name`` that is not a local path)."""
    from ..helpers.paths import looks_local

    return isinstance(source, str) and not looks_local(source) and "/" in source


def corpus_files(source: str | os.PathLike) -> tuple[Path, list[Path]]:
    """``(path, text files)`` of a local corpus: the file itself, or a folder's ``*.txt``/``*.train``/``*.md``
    files; a missing path raises ``FileNotFoundError``, a folder without such files :class:`CorpusError`."""
    from ..helpers.paths import require_local

    path = require_local(source, "corpus file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in CORPUS_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise CorpusError(f"corpus folder {path} holds no *.txt, *.train or *.md files")
    return path, files


def _has_text(path: Path, chunk: int = 1 << 20) -> bool:
    """Whether the file holds a non-whitespace byte (read until the first one: cheap for a real corpus)."""
    with path.open("rb") as f:
        while block := f.read(chunk):
            if block.strip():
                return True
    return False


def check_corpus_source(source: str | os.PathLike) -> None:
    """Fail fast (without loading it) on a local corpus that is missing or has no text at all; a hub name passes.

    Raises ``FileNotFoundError`` (missing path) or :class:`CorpusError` naming the empty file or folder.
    """
    if is_hub_corpus(source):
        return
    path, files = corpus_files(source)
    if not any(_has_text(f) for f in files):
        raise _empty_corpus(path, files)


def _empty_corpus(path: Path, files: Sequence[Path]) -> CorpusError:
    what = f"corpus file {path} is empty" if path.is_file() else f"corpus folder {path}: its {len(files)} file(s) are empty"
    return CorpusError(f"{what} (no line with text); give a file with one unit of text per line")


def load_corpus(source: str | os.PathLike, split: str = "train", layout: str = "lines") -> datasets.Dataset:
    """Read plain text (a file, or a folder of ``*.txt``/``*.train``/``*.md`` files) or a hub dataset.

    ``layout="lines"``: one unit per non-blank line; ``"paragraphs"``: units separated by blank
    lines. A non-UTF-8 file raises naming the file and byte offset; a corpus with no unit of text
    (an empty file, only blank lines, a hub split with no rows) raises :class:`CorpusError`. A hub dataset is named
    ``org/name`` (``split`` applies; needs a ``text`` column); a string that looks like a local
    path (see :mod:`babybias.helpers.paths`: starts with ``/ . ~``, has two ``/``, ends with a file
    suffix, or starts with an existing folder) and does not exist raises ``FileNotFoundError`` at once.
    """
    if is_hub_corpus(source):
        ds = datasets.load_dataset(source, split=split)
        validate(ds)
        if len(ds) == 0:
            raise CorpusError(f"hub corpus {source} (split {split!r}) has no rows")
        return ds
    path, files = corpus_files(source)
    if layout not in ("lines", "paragraphs"):
        raise ValueError(f"layout must be 'lines' or 'paragraphs', got {layout!r}")
    texts, origins = [], []
    for f in files:
        raw = f.read_bytes()
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CorpusError(f"{f}: not UTF-8 ({err.reason} at byte {err.start})") from None
        units = content.splitlines() if layout == "lines" else re.split(r"\n\s*\n", content)
        for u in units:
            if u.strip():
                texts.append(u.strip())
                origins.append(str(f.relative_to(path) if path.is_dir() else f.name))
    if not texts:
        raise _empty_corpus(path, files)
    return datasets.Dataset.from_dict({TEXT: texts, "source": origins})


def save_corpus(corpus: datasets.Dataset | Iterable[dict], path: str | os.PathLike, layout: str = "lines") -> Path:
    """Write the ``text`` column as one unit per line (or blank-line separated paragraphs), atomically."""
    path = Path(path)
    sep = "\n" if layout == "lines" else "\n\n"
    if layout not in ("lines", "paragraphs"):
        raise ValueError(f"layout must be 'lines' or 'paragraphs', got {layout!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for i, row in enumerate(corpus):
                text = check_text(row[TEXT], i)
                bad = "\n" in text if layout == "lines" else bool(re.search(r"\n\s*\n", text))
                if bad:
                    raise CorpusError(f"row {i}: its text contains a {'newline' if layout == 'lines' else 'blank line'}, "
                                      f"which the {layout!r} layout cannot hold; use layout='paragraphs' or split it")
                out.write(text + sep)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

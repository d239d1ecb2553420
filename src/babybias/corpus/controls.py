"""Control ablations: show an intervention's effect is not an artefact of adding (or removing) data.

:class:`RandomDuplication` appends copies of randomly chosen, unchanged units — as many *words*
as an augmentation added (pass its :class:`Report`), or a number of units or words. (The control
for removal, :class:`~babybias.corpus.toxicity.RandomRemoval`, lives with the toxicity filter and
uses :func:`pick_words` too.)

Word matching (documented rule): units are taken in a random order (seeded) while the running
total stays at or below the target; then, while the shortfall is more than 1 % of the target,
the first remaining unit (in that random order) whose length lands within 1 % is added, else the
one whose length comes closest, as long as it brings the total closer. A control that cannot get
within 1 % (e.g. a tiny corpus of long units) says so in ``notes["words_within_1_percent"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np

from .core import Intervention, Report, as_corpus, column_values, count_tokens, count_words, validate

MATCH = ("units", "words")


def pick_words(lengths: np.ndarray, target: int, rng: np.random.Generator, cycle: bool = True) -> np.ndarray:
    """Indices into ``lengths`` (words per unit) whose lengths sum to ``target`` within 1 % where
    possible (see the module docstring). ``cycle=True`` lets units repeat once all were used
    (duplication); ``cycle=False`` never repeats a unit (removal)."""
    n = len(lengths)
    if target <= 0 or n == 0:
        return np.zeros(0, dtype=int)
    tol = target // 100
    picks, total = [], 0
    while True:
        perm = rng.permutation(n)
        cum = np.cumsum(lengths[perm])
        k = int(np.searchsorted(cum, target - total, side="right"))
        picks.append(perm[:k])
        total += int(cum[k - 1]) if k else 0
        if k < n or not cycle or total >= target:
            break
    remaining = perm[k:]
    while target - total > tol and len(remaining):
        gap = target - total
        miss = np.abs(lengths[remaining] - gap)
        within = np.flatnonzero(miss <= tol)
        j = int(within[0]) if len(within) else int(np.argmin(miss))
        if miss[j] >= gap:  # adding it would not bring the total closer
            break
        picks.append(remaining[j:j + 1])
        total += int(lengths[remaining[j]])
        remaining = np.delete(remaining, j)
    return np.concatenate(picks).astype(int)


def resolve_target(target: int | Report, match: str | None, what: str) -> tuple[int, str]:
    """(amount, "units" or "words") from an int or a report; ``what`` is "added" or "removed".

    A report defaults to words (its ``words_added``/``words_removed``), an int to units."""
    match = match or ("words" if isinstance(target, Report) else "units")
    if match not in MATCH:
        raise ValueError(f"match must be one of {MATCH}, got {match!r}")
    if isinstance(target, Report):
        amount = getattr(target, f"{match}_{what}")
        if match == "words" and target.words_out is None and getattr(target, f"units_{what}"):
            raise ValueError(f"report {target.intervention!r} has no word counts (words_out=None) but "
                             f"units_{what}={getattr(target, f'units_{what}')}; re-run it or pass match='units'")
    else:
        amount = int(target)
    if amount < 0:
        raise ValueError(f"the {match} to match must be >= 0, got {amount}")
    return int(amount), match


@dataclass
class RandomDuplication(Intervention):
    """Append copies of uniformly chosen units.

    ``count`` is an int (units, or words with ``match="words"``) or the :class:`Report` of the
    augmentation to match — by default its ``words_added`` (``match="units"``: its ``units_added``).
    Units are taken without replacement while possible. With a ``tokenizer`` the report also
    gives ``tokens_added`` (and ``notes["tokens_target"]`` when the matched report has tokens).
    """

    count: int | Report = 0
    seed: int = 0
    match: str | None = None
    tokenizer: Any = None
    name = "random-duplication"

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        if not isinstance(corpus, datasets.Dataset):
            raise TypeError(f"RandomDuplication needs a datasets.Dataset, got {type(corpus).__name__}")
        validate(corpus)
        amount, match = resolve_target(self.count, self.match, "added")
        if amount and len(corpus) == 0:
            raise ValueError("cannot duplicate units of an empty corpus")
        texts = column_values(corpus)
        lengths = np.array([count_words(t) for t in texts], dtype=np.int64)
        rng = np.random.default_rng(self.seed)
        if match == "units":
            full, rest = divmod(amount, len(corpus)) if len(corpus) else (0, 0)
            picks = np.concatenate([rng.permutation(len(corpus)) for _ in range(full)] +
                                   [rng.choice(len(corpus), size=rest, replace=False)]).astype(int)
        else:
            picks = pick_words(lengths, amount, rng, cycle=True)
        out = datasets.concatenate_datasets([corpus, corpus.select(picks)]) if len(picks) else corpus
        params = {"count": amount, "seed": self.seed, "match": match}
        if self.tokenizer is not None:
            params["tokenizer"] = self.params()["tokenizer"]
        if isinstance(self.count, Report):
            params["matched"] = self.count.intervention
        words_in, words_added = int(lengths.sum()), int(lengths[picks].sum())
        report = Report("random-duplication", params, units_in=len(corpus), units_out=len(out), units_added=len(picks),
                        words_in=words_in, words_out=words_in + words_added, words_added=words_added)
        record_target_notes(report, self.count, amount, match, "added")
        if self.tokenizer is not None:
            report.tokens_added = count_tokens([texts[i] for i in picks], self.tokenizer)
            if isinstance(self.count, Report) and self.count.tokens_added is not None:
                report.notes["tokens_target"] = self.count.tokens_added
        return out, report.check()


def record_target_notes(report: Report, target: int | Report, amount: int, match: str, what: str) -> None:
    """Record the target and how close the control came, in words and units."""
    got_words = getattr(report, f"words_{what}")
    if match == "words":
        report.notes["words_target"] = amount
        report.notes["words_error"] = (got_words - amount) / amount if amount else 0.0
        report.notes["words_within_1_percent"] = abs(got_words - amount) <= amount // 100
    elif isinstance(target, Report) and target.words_out is not None:
        report.notes["words_target"] = getattr(target, f"words_{what}")
    if isinstance(target, Report):
        report.notes["units_target"] = getattr(target, f"units_{what}")

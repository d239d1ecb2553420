"""A researcher's own intervention, as the sandbox imports it (``--experiment path/user_intervention.py:Shout``)."""

from __future__ import annotations

from dataclasses import dataclass

from babybias.corpus import Intervention, Report
from babybias.corpus.core import column_values, count_words


@dataclass
class Shout(Intervention):
    """Append an upper-cased copy of every ``every``-th unit (a toy augmentation that adds words)."""

    every: int = 3
    seed: int = 0
    name = "shout"

    def apply(self, corpus, num_proc=None):
        texts = column_values(corpus)
        picked = [t.upper() for i, t in enumerate(texts) if (i + self.seed) % self.every == 0]
        out = corpus.from_dict({"text": texts + picked})
        words_in, added = sum(map(count_words, texts)), sum(map(count_words, picked))
        report = Report("shout", self.params(), units_in=len(texts), units_out=len(out), units_added=len(picked),
                        words_in=words_in, words_out=words_in + added, words_added=added)
        return out, report.check()


def lowercase_everything(seed: int = 0):
    """A factory: an intervention that rewrites in place (no words added: it needs no matched control)."""
    from babybias.corpus import Pipeline

    @dataclass
    class Lower(Intervention):
        name = "lower"

        def apply(self, corpus, num_proc=None):
            texts = [t.lower() for t in column_values(corpus)]
            return corpus.from_dict({"text": texts}), Report("lower", units_in=len(texts), units_out=len(texts))

    return Pipeline([Lower()])


def needs_strength(strength, seed: int = 0):
    """A factory with a required argument the sandbox cannot give: refused before anything trains."""
    return Shout(every=strength, seed=seed)

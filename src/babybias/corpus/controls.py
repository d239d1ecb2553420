"""Control ablations: show an intervention's effect is not an artefact of adding data.

:class:`RandomDuplication` appends copies of randomly chosen, unchanged units — as many as an
augmentation added (pass its :class:`Report` or a count). (The control for removal,
:class:`~babybias.corpus.toxicity.RandomRemoval`, lives with the toxicity filter.)
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from .core import Intervention, Report, column_values, count_words, validate


@dataclass
class RandomDuplication(Intervention):
    """Append ``count`` copies of uniformly chosen units (without replacement while possible).

    ``count`` may be an int or the :class:`Report` of the augmentation to match (its ``units_added``).
    """

    count: int | Report = 0
    seed: int = 0
    name = "random-duplication"

    def apply(self, corpus, num_proc: int | None = None):
        if not isinstance(corpus, datasets.Dataset):
            raise TypeError(f"RandomDuplication needs a datasets.Dataset, got {type(corpus).__name__}")
        validate(corpus)
        n = self.count.units_added if isinstance(self.count, Report) else int(self.count)
        if n < 0:
            raise ValueError(f"count must be >= 0, got {n}")
        if n and len(corpus) == 0:
            raise ValueError("cannot duplicate units of an empty corpus")
        rng = np.random.default_rng(self.seed)
        full, rest = divmod(n, len(corpus)) if len(corpus) else (0, 0)
        picks = np.concatenate([rng.permutation(len(corpus)) for _ in range(full)] +
                               [rng.choice(len(corpus), size=rest, replace=False)]).astype(int)
        copies = corpus.select(picks)
        out = datasets.concatenate_datasets([corpus, copies]) if n else corpus
        params = {"count": n, "seed": self.seed}
        if isinstance(self.count, Report):
            params["matched"] = self.count.intervention
        report = Report("random-duplication", params, units_in=len(corpus), units_out=len(out), units_added=n,
                        words_in=sum(count_words(t) for t in column_values(corpus)))
        report.terms = {}
        return out, report.check()

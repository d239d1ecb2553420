"""Demographic perturbation augmentation (after Qian et al. 2022, PANDA).

For each unit that mentions a term of the chosen axis, pick one occurrence and a different
target group (both from a per-unit random generator seeded by ``seed``), and rewrite the text
toward that group. Perturbers:

* :class:`WordListPerturber` — word lists: for ``gender`` the shipped gender pairs (every
  gendered word is swapped, as PANDA's rewrite changes all references); for ``race`` and
  ``age`` the HolisticBias v1.1 descriptor buckets (the selected term is replaced by the target
  bucket's own name when it is one of its descriptors (asian → "Asian", old → "old"), else
  its first descriptor, case kept; the mixed "combined" bucket is left out).
* :class:`Seq2SeqPerturber` — any ``transformers`` seq2seq model (e.g. the PANDA perturber, for
  users who have it), prompted as ``"<word>, <target> <PERT_SEP> <text>"``.

``mode="augment"`` keeps originals and adds perturbed copies; ``"replace"`` rewrites in place.
Rows gain no columns; the report's ``notes["examples"]`` lists the first (word, target) picks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from .cda import _run
from .core import TEXT, Intervention, Report, check_text, count_words, unit_random
from .wordlists import Swapper, WordPairs, holistic_descriptors, match_case, word_regex

AXES = ("gender", "race", "age")
_HOLISTIC_AXIS = {"race": "race_ethnicity", "age": "age"}


def _canonical(bucket: str, terms: list[str]) -> str:
    names = {bucket.lower(), bucket.replace("_", " ").lower(), bucket.replace("_", "-").lower()}
    return next((t for t in terms if t.lower() in names), terms[0])


class Perturber(Protocol):
    def candidates(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, group) of every perturbable term in ``text``."""

    def groups(self) -> list[str]:
        """The target attributes this perturber can write toward."""

    def perturb(self, text: str, span: tuple[int, int], target: str) -> str:
        """``text`` rewritten so that the term at ``span`` refers to ``target``."""


class WordListPerturber:
    """Rule-based perturber over sourced word lists (see module docstring)."""

    def __init__(self, axis: str = "gender", pairs: WordPairs | None = None) -> None:
        if axis not in AXES:
            raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
        self.axis = axis
        if axis == "gender":
            self.swapper = Swapper(pairs or WordPairs.gender())
            male = {a for a, _ in self.swapper.pairs.pairs}
            self._group = {w: ("man" if w in male else "woman") for w in self.swapper.first}
        else:
            buckets = {b: t for b, t in holistic_descriptors(_HOLISTIC_AXIS[axis]).items() if b != "combined"}
            self._terms = {t.lower(): b for b, terms in buckets.items() for t in terms}
            self._canonical = {b: _canonical(b, terms) for b, terms in buckets.items()}
            self._pattern = word_regex(self._terms)

    def groups(self) -> list[str]:
        return ["man", "woman"] if self.axis == "gender" else sorted(self._canonical)

    def candidates(self, text: str) -> list[tuple[int, int, str]]:
        if self.axis == "gender":
            return [(m.start(), m.end(), self._group[m.group(0).lower()]) for m in self.swapper.find(text)]
        return [(m.start(), m.end(), self._terms[m.group(0).lower()]) for m in self._pattern.finditer(text)]

    def perturb(self, text: str, span: tuple[int, int], target: str) -> str:
        if self.axis == "gender":
            return self.swapper.swap(text)[0]
        s, e = span
        return text[:s] + match_case(self._canonical[target], text[s:e]) + text[e:]


class Seq2SeqPerturber:
    """A ``transformers`` seq2seq perturber (PANDA format); terms are found with the word-list perturber."""

    def __init__(self, model, tokenizer, axis: str = "gender", max_new_tokens: int = 256, finder: WordListPerturber | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.finder = finder or WordListPerturber(axis)
        self.max_new_tokens = max_new_tokens

    def groups(self) -> list[str]:
        return self.finder.groups()

    def candidates(self, text: str) -> list[tuple[int, int, str]]:
        return self.finder.candidates(text)

    def perturb(self, text: str, span: tuple[int, int], target: str) -> str:
        import torch

        prompt = f"{text[span[0]:span[1]]}, {target} <PERT_SEP> {text}"
        inputs = self.tokenizer(prompt, return_tensors="pt", truncation=True).to(self.model.device)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self.tokenizer.decode(out[0], skip_special_tokens=True).strip()


@dataclass
class PerturbationAugmentation(Intervention):
    """Rewrite units toward another demographic group; ``mode`` = "augment" (add) or "replace"."""

    axis: str = "gender"
    perturber: Perturber | None = None
    mode: str = "augment"
    seed: int = 0
    max_examples: int = 20
    name = "perturbation"

    def apply(self, corpus, num_proc: int | None = None):
        if self.mode not in ("augment", "replace"):
            raise ValueError(f"mode must be 'augment' or 'replace', got {self.mode!r}")
        perturber = self.perturber or WordListPerturber(self.axis)
        groups = perturber.groups()
        seed, augment = self.seed, self.mode == "augment"
        report = Report(f"perturbation-{self.axis}-{self.mode}", self.params() | {"perturber": type(perturber).__name__})

        def perturb_batch(batch, indices):
            columns = list(batch)
            out = {c: [] for c in columns} | {"_n_swaps": [], "_terms": [], "_words": [], "_changed": [], "_added": []}
            for k, i in enumerate(indices):
                text = check_text(batch[TEXT][k], i)
                found = perturber.candidates(text)
                new, picked = text, []
                if found:
                    rng = unit_random(seed, i, salt=17)
                    s, e, group = found[rng.randrange(len(found))]
                    target = rng.choice([g for g in groups if g != group] or groups)
                    new = perturber.perturb(text, (s, e), target)
                    picked = [f"{text[s:e].lower()}->{target}"]
                changed = new != text
                rows = [(text, 0)] + ([(new, 1)] if changed else []) if augment else [(new, 0)]
                for j, (t, added) in enumerate(rows):
                    for c in columns:
                        out[c].append(t if c == TEXT else batch[c][k])
                    out["_n_swaps"].append(int(changed) if j == 0 else 0)
                    out["_terms"].append(picked if j == 0 and changed else [])
                    out["_words"].append(count_words(text) if j == 0 else 0)
                    out["_changed"].append(int(changed) if j == 0 else 0)
                    out["_added"].append(added)
            return out

        corpus, report = _run(corpus, perturb_batch, report, num_proc, "perturbation")
        report.notes["examples"] = list(report.terms)[: self.max_examples]
        return corpus, report

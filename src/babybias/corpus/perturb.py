"""Demographic perturbation augmentation (after Qian et al. 2022, PANDA).

For each unit that mentions a term of the chosen axis, pick one occurrence and a different
target group (both from a per-unit random generator seeded by ``seed``), and rewrite the text
toward that group. Perturbers:

* :class:`WordListPerturber` — word lists: for ``gender`` the shipped gender pairs (every
  gendered word is swapped, as PANDA's rewrite changes all references); for ``race`` and
  ``age`` the HolisticBias v1.1 descriptor buckets (the selected term is replaced by the target
  bucket's own name when it is one of its descriptors (asian → "Asian", old → "old"), else
  its first descriptor, case kept; the mixed "combined" bucket is left out). A race/age
  descriptor is perturbed **only where it describes a person** (rules below); every other
  occurrence ("black hole", "her old bicycle") is left alone and counted in ``Report.skipped``.
* :class:`Seq2SeqPerturber` — any ``transformers`` seq2seq model (e.g. the PANDA perturber, for
  users who have it), prompted as ``"<word>, <target> <PERT_SEP> <text>"``.

Where a race/age descriptor describes a person (documented rule, no parser):

1. *attributive*: the descriptor is followed, after whitespace, by a person noun
   (:func:`~babybias.corpus.wordlists.person_nouns`: HolisticBias's nouns, singular and plural,
   plus common ones like people, folks, teenagers, community), with at most
   ``MAX_BETWEEN`` = 3 HolisticBias descriptor words between ("an old *Black* man",
   "young *gay Asian* women"). Replaced by the target descriptor; a preceding "a"/"an" is
   fixed to the new word's first sound (:func:`indefinite_article`). Not when the person noun
   is followed by a possessive apostrophe ("The old player's club") or by a
   :data:`COMPOUND_HEADS` noun ("her old family home"): the person noun is then a modifier.
   Not "old" right after his/her/their/my/your/our/its ("my old students": former). A target
   whose word is the head noun itself is not picked ("young adults" never becomes "adult adults").
2. *plural noun*: the descriptor with an "s" standing as a noun ("Asians", "seniors",
   "20-year-olds"), except after his/her/their/my/your/our/its/late/early/mid ("in their teens"),
   except a person noun after a descriptor (the head of "young adults"),
   and except "blacks"/"whites" (also chess sides, egg whites). Replaced by "<target> people".
3. *collective*: "the" + young/elderly/middle-aged/retired/aged followed by . , ; : ! ? ), the
   end, or one of are/were/was/is/have/had/has/who/whom/whose/in/of/for/to/with/at/from/by/on
   ("care for the elderly.", "the young are"); "the X" becomes "<target> people" ("the elderly
   are" → "young people are"). Not "the old" ("the old and new testament"), not before "and"/"or".

A descriptor next to a hyphen ("non-white", "old-fashioned", tokenised "3 - year - old") is never
perturbed.

``mode="augment"`` keeps originals and adds perturbed copies; ``"replace"`` rewrites in place.
Rows gain no columns; the report's ``notes["examples"]`` lists the first (word, target) picks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from .cda import map_with_stats
from .core import TEXT, Intervention, Report, as_corpus, check_text, count_words, unit_random
from .wordlists import (Swapper, WordPairs, all_descriptor_words, holistic_descriptors, match_case,
                        person_nouns, word_regex)

AXES = ("gender", "race", "age")
_HOLISTIC_AXIS = {"race": "race_ethnicity", "age": "age"}
MAX_BETWEEN = 3
COLLECTIVE = frozenset({"young", "elderly", "middle-aged", "retired", "aged"})  # not "old": "the old and new"
# after a collective "the elderly": these words, or . , ; : ! ? ) or the end ("and"/"or" left out: "the young and old trees")
_AFTER_COLLECTIVE = frozenset("are were was is have had has who whom whose in of for to with at from by on".split())
_NO_PLURAL = frozenset({"black", "white"})
_NOT_PLURAL_AFTER = frozenset("his her their my your our its late early mid".split())
_POSSESSIVE = frozenset("his her their my your our its".split())  # "my old students": "old" read as former
# Non-person nouns that often follow a person noun as the head of a compound ("her old family home",
# "young people clubs"): the person noun is then a modifier, not what the descriptor describes.
# Words that are also common verbs after a person noun are left out ("an old man lives", "old people care").
COMPOUND_HEADS = frozenset("""
home homes house houses household households room rooms item items club clubs team teams name names
business businesses company companies farm farms estate estates property properties land car cars dog dogs
pet pets tree trees life history histories tradition traditions photo photos picture pictures album albums
portrait portraits recipe recipes meal meals dinner dinners holiday holidays vacation vacations income incomes
size sizes law laws service services center centers centre centres college colleges school schools hall halls
hostel hostels program programs programme programmes union unions council councils association associations
league leagues organisation organisations organization organizations card cards loan loans debt debts
housing clothes clothing food toys toy shower furniture doctor doctors friend friends seat seats teeth
""".split())
_NEXT = re.compile(r"\s+([^\W_][\w-]*)")
_PREV = re.compile(r"([^\W_][\w-]*)\s+$")
_ARTICLE_BEFORE = re.compile(r"(?<!\w)(an?)(\s+)$", re.IGNORECASE)
_VOWEL_BUT_A = ("uni", "use", "usu", "uti", "eu", "one", "once", "ewe")  # "a unicorn", "a European", "a one-off"
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")                 # "an hour", "an honest"


def indefinite_article(word: str) -> str:
    """"a" or "an" for ``word`` by its first sound: a vowel letter means "an", except words starting
    uni/use/usu/uti/eu/one/once/ewe ("a European"); silent-h words (hour, honest, honor, heir) take
    "an"; numbers read aloud with a vowel sound (8…, 11, 18, 11-…, 18-…) take "an" ("an 80-year-old")."""
    w = word.lower()
    if w[:1].isdigit():
        return "an" if w.startswith("8") or re.match(r"1[18](?!\d)", w) else "a"
    if w.startswith(_SILENT_H):
        return "an"
    if w.startswith(_VOWEL_BUT_A):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def _before(pattern: re.Pattern, text: str, end: int, window: int = 200) -> re.Match | None:
    """``pattern`` (anchored with ``$``) searched in the ``window`` characters before ``end``; match
    positions are in ``text``."""
    return pattern.search(text, max(0, end - window), end)


def _canonical(bucket: str, terms: list[str]) -> str:
    names = {bucket.lower(), bucket.replace("_", " ").lower(), bucket.replace("_", "-").lower()}
    return next((t for t in terms if t.lower() in names), terms[0])


class Occurrence(NamedTuple):
    """One term occurrence found by :meth:`WordListPerturber.analyse`: its span, group, singular term,
    kind ("attributive", "plural", "collective", "swap" for gender; None when left alone) and, for an
    attributive descriptor, the lower-case person noun it describes."""

    start: int
    end: int
    group: str
    term: str
    kind: str | None
    head: str | None = None


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
            self._plurals = {t + "s": t for t in self._terms if t not in _NO_PLURAL and not t.endswith("s")}
            self._canonical = {b: _canonical(b, terms) for b, terms in buckets.items()}
            self._pattern = word_regex(list(self._terms) + list(self._plurals))
            self._nouns = person_nouns()
            self._between = all_descriptor_words()

    def groups(self) -> list[str]:
        return ["man", "woman"] if self.axis == "gender" else sorted(self._canonical)

    def _kind(self, text: str, s: int, e: int, form: str) -> tuple[str | None, str | None]:
        """How the occurrence at ``text[s:e]`` describes a person ("attributive", "plural",
        "collective"), or None when it does not (see the module docstring); with the person noun
        of an attributive one."""
        return self._kind_and_head(text, s, e, form) or (None, None)

    def _kind_and_head(self, text: str, s: int, e: int, form: str) -> tuple[str, str | None] | None:
        if text[max(0, s - 3):s].rstrip()[-1:] == "-" or text[e:e + 3].lstrip()[:1] == "-":
            return None  # "non-white", "old-fashioned", and the spaced "3 - year - old" of tokenised text
        prev = _before(_PREV, text, s)
        prev_word = prev.group(1).lower() if prev else ""
        if form == "old" and prev_word in _POSSESSIVE:
            return None  # "my old students", "her old boss": former, not aged
        if form in self._plurals:
            if form in self._nouns and (prev_word in self._between or prev_word in self._terms):
                return None  # "young adults": the head noun of the descriptor before it, not a descriptor itself
            return None if prev_word in _NOT_PLURAL_AFTER else ("plural", None)
        pos = e
        for _ in range(MAX_BETWEEN + 1):
            nxt = _NEXT.match(text, pos)
            if not nxt:
                break
            word = nxt.group(1).lower()
            if word in self._nouns:
                return ("attributive", word) if self._person_head(text, nxt.end()) else None
            if word not in self._between:
                break
            pos = nxt.end()
        if form in COLLECTIVE and prev_word == "the":
            nxt = _NEXT.match(text, e)
            rest = text[e:e + 3].lstrip()
            if (nxt and nxt.group(1).lower() in _AFTER_COLLECTIVE) or (not nxt and (not rest or rest[0] in ".,;:!?)")):
                return ("collective", None)
        return None

    @staticmethod
    def _person_head(text: str, end: int) -> bool:
        """Whether the person noun ending at ``end`` heads its phrase: not when followed by a possessive
        apostrophe ("the old player's club", "the European People's Party": which noun the descriptor
        describes is unknown) or by a :data:`COMPOUND_HEADS` noun ("her old family home")."""
        if text[end:end + 1] in ("'", "\u2019"):
            return False
        nxt = _NEXT.match(text, end)
        return not (nxt and nxt.group(1).lower() in COMPOUND_HEADS)

    def head_noun(self, text: str, span: tuple[int, int]) -> str | None:
        """The lower-case person noun an attributive descriptor at ``span`` describes, else None."""
        return next((o.head for o in self.analyse(text) if (o.start, o.end) == tuple(span)), None)

    def options_for(self, occurrence: Occurrence, groups: list[str]) -> list[str]:
        """The targets other than the occurrence's group, without those whose word is its head noun
        ("young adults" is never rewritten to "adult adults")."""
        options = [g for g in groups if g != occurrence.group]
        head = occurrence.head
        if head and self.axis != "gender":
            options = [g for g in options if head not in {(w := self._canonical[g].lower()), w + "s", w + "es"}]
        return options

    def target_options(self, text: str, span: tuple[int, int], group: str, groups: list[str]) -> list[str]:
        """:meth:`options_for` the occurrence at ``span``."""
        occurrence = self._at(text, span)
        return self.options_for(occurrence._replace(group=group), groups)

    def analyse(self, text: str) -> list[Occurrence]:
        """Every term occurrence in ``text``, in order, each scanned once (``kind`` None: left alone)."""
        if self.axis == "gender":
            return [Occurrence(m.start(), m.end(), self._group[m.group(0).lower()], m.group(0).lower(), "swap")
                    for m in self.swapper.find(text)]
        out = []
        for m in self._pattern.finditer(text):
            form = m.group(0).lower()
            term = self._plurals.get(form, form)
            out.append(Occurrence(m.start(), m.end(), self._terms[term], term, *self._kind(text, m.start(), m.end(), form)))
        return out

    def _at(self, text: str, span: tuple[int, int]) -> Occurrence:
        s, e = span
        return next((o for o in self.analyse(text) if (o.start, o.end) == (s, e)),
                    Occurrence(s, e, "", text[s:e].lower(), "attributive"))

    def candidates(self, text: str) -> list[tuple[int, int, str]]:
        return [(o.start, o.end, o.group) for o in self.analyse(text) if o.kind]

    def skipped(self, text: str) -> list[str]:
        """``"axis/term"`` for every occurrence left alone because it does not describe a person."""
        return [f"{self.axis}/{o.term}" for o in self.analyse(text) if o.kind is None]

    def perturb(self, text: str, span: tuple[int, int], target: str) -> str:
        if self.axis == "gender":
            return self.swapper.swap(text)[0]
        return self.rewrite(text, self._at(text, span), target)

    def rewrite(self, text: str, occurrence: Occurrence, target: str) -> str:
        """``text`` with ``occurrence`` (from :meth:`analyse`) rewritten toward ``target``, without scanning again."""
        if self.axis == "gender":
            return self.swapper.swap(text)[0]
        s, e, kind = occurrence.start, occurrence.end, occurrence.kind or "attributive"
        new = self._canonical[target]
        if kind == "plural":
            return text[:s] + match_case(new, text[s:e]) + " people" + text[e:]
        if kind == "collective":
            the = _before(_PREV, text, s)
            return text[:the.start(1)] + match_case(new, the.group(1)) + " people" + text[e:]
        new = match_case(new, text[s:e])
        article = _before(_ARTICLE_BEFORE, text, s)
        head = text[:s]
        if article:
            a = indefinite_article(new)
            old = article.group(1)
            shouting = old.isupper() and (len(old) > 1 or (text[s:e].isupper() and e - s > 1))  # "A YOUNG" -> "AN OLD"
            a = a.upper() if shouting else (a.capitalize() if old[0].isupper() else a)
            head = text[:article.start(1)] + a + article.group(2)
        return head + new + text[e:]


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

    def skipped(self, text: str) -> list[str]:
        return self.finder.skipped(text)

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
    tokenizer: Any = None  # optional: also report the tokens added (``tokens_added``)
    name = "perturbation"

    def apply(self, corpus, num_proc: int | None = None):
        corpus = as_corpus(corpus)
        if self.mode not in ("augment", "replace"):
            raise ValueError(f"mode must be 'augment' or 'replace', got {self.mode!r}")
        perturber = self.perturber or WordListPerturber(self.axis)
        groups = perturber.groups()
        seed, augment = self.seed, self.mode == "augment"
        analyse = perturber.analyse if isinstance(perturber, WordListPerturber) else None
        axis = getattr(perturber, "axis", self.axis)
        report = Report(f"perturbation-{self.axis}-{self.mode}", self.params() | {"perturber": type(perturber).__name__})

        def perturb_batch(batch, indices):
            columns = list(batch)
            out = {c: [] for c in columns} | {"_n_swaps": [], "_terms": [], "_words": [], "_changed": [], "_added": [],
                                              "_out_words": [], "_skipped": []}
            for k, i in enumerate(indices):
                text = check_text(batch[TEXT][k], i)
                new, picked = text, []
                if analyse is not None:  # a word-list perturber: one scan per row, passed along
                    occurrences = analyse(text)
                    found = [o for o in occurrences if o.kind]
                    skipped = [f"{axis}/{o.term}" for o in occurrences if o.kind is None]
                else:
                    found = perturber.candidates(text)
                    skipped = perturber.skipped(text) if hasattr(perturber, "skipped") else []
                if found:
                    rng = unit_random(seed, i, salt=17)
                    chosen = found[rng.randrange(len(found))]
                    if analyse is not None:
                        s, e, group = chosen.start, chosen.end, chosen.group
                        target = rng.choice(perturber.options_for(chosen, groups) or groups)
                        new = perturber.rewrite(text, chosen, target)
                    else:
                        s, e, group = chosen
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
                    out["_out_words"].append(count_words(t))
                    out["_skipped"].append(skipped if j == 0 else [])
            return out

        corpus, report = map_with_stats(corpus, perturb_batch, report, num_proc, "perturbation", self.tokenizer)
        report.notes["examples"] = list(report.terms)[: self.max_examples]
        return corpus, report

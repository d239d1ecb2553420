"""Sourced term lists and the word swapper used by CDA, CDS and word-list perturbation.

Shipped (see ``data/ATTRIBUTION.md``): the Zhao et al. 2018 gender pairs (Apache-2.0), the
LDNOOBW English offensive-word list (CC BY 4.0), the HolisticBias v1.1 descriptors (CC BY-SA
4.0). Not shipped: the bias-bench attribute lists (no license stated) — read your copy with
:meth:`WordPairs.from_bias_bench`; name lists — pass your own with :meth:`WordPairs.from_pairs`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

# "her" is object or possessive and "his" possessive or independent: the counterpart depends on the
# next word. Documented rule: if the next word is a content word, the pronoun is possessive
# (her → his, his → her); if it is a function word, punctuation or the end, it is not
# (her → him, his → hers). E.g. "her book" → "his book", "gave her the key" → "gave him the key",
# "the book is his." → "the book is hers.".
FUNCTION_WORDS = frozenset("""
a an the this that these those some any every each no all both my your his her its our their
to of in on at for with about from by up down out off over into onto back away around after before
again too as than like through under along across against between without within near
and or but so because if when while then than though although until unless whether nor
i you he she it we they me him us them is was were be been being am are will would can could
shall should may might must do did does done had has have having not
very yesterday today tomorrow tonight now here there already really just later well soon once twice
ever never always often also still even only more most less least how why what where who whom which
""".split())
_AMBIGUOUS = {"her": ("his", "him"), "his": ("her", "hers")}  # (possessive reading, other reading)
_NEXT_WORD = re.compile(r"\s*([^\W\d_]+)")


def _data(name: str) -> Path:
    return Path(str(resources.files("babybias.corpus") / "data" / name))


@dataclass(frozen=True)
class WordPairs:
    """Counterpart word pairs (lower case), e.g. (man, woman). Swapping goes both ways."""

    pairs: tuple[tuple[str, str], ...]
    source: str = "user"

    @classmethod
    def gender(cls) -> "WordPairs":
        """The 222 definitional gender pairs of Zhao et al. 2018 (GN-GloVe), shipped."""
        lines = _data("gender_pairs_zhao2018.tsv").read_text(encoding="utf-8").splitlines()
        return cls(tuple(tuple(l.split("\t")) for l in lines if l), "Zhao et al. 2018 (uclanlp/gn_glove), Apache-2.0")

    @classmethod
    def from_pairs(cls, pairs: Iterable[Iterable[str]], source: str = "user") -> "WordPairs":
        out = []
        for i, p in enumerate(pairs):
            p = tuple(p)
            if len(p) != 2 or not all(isinstance(w, str) and w.strip() and " " not in w.strip() for w in p):
                raise ValueError(f"pair {i} must be two single words, got {p!r}")
            out.append((p[0].strip().lower(), p[1].strip().lower()))
        return cls(tuple(out), source)

    @classmethod
    def from_bias_bench(cls, path: str | Path, axis: str = "gender") -> "WordPairs":
        """bias-bench's ``bias_attribute_words.json``: each entry lists one word per group; every
        two groups of an entry become a pair (so race/religion triples give three pairs each)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if axis not in data:
            raise KeyError(f"{path}: no axis {axis!r} (has {sorted(data)})")
        pairs = [(a, b) for entry in data[axis] for i, a in enumerate(entry) for b in entry[i + 1:]]
        return cls.from_pairs(pairs, f"bias-bench {axis} ({path})")

    def __add__(self, other: "WordPairs") -> "WordPairs":
        return WordPairs(self.pairs + other.pairs, f"{self.source} + {other.source}")

    def mapping(self) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """(word → counterpart, word → all counterparts where a word has several).

        A word with several counterparts keeps the first listed one, except "her"/"his", which
        follow the possessive rule above.
        """
        first: dict[str, str] = {}
        every: dict[str, list[str]] = {}
        for a, b in self.pairs:
            for x, y in ((a, b), (b, a)):
                if x == y:
                    continue
                every.setdefault(x, [])
                if y not in every[x]:
                    every[x].append(y)
                first.setdefault(x, y)
        return first, {w: tuple(c) for w, c in every.items() if len(c) > 1}


def match_case(word: str, template: str) -> str:
    """``word`` in the capitalisation of ``template`` (UPPER, Title or lower)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def word_regex(words: Iterable[str]) -> re.Pattern:
    """A case-insensitive, word-boundary regex matching any of ``words`` (longest first), compiled
    as a character trie so the scan stays fast with hundreds of words."""
    trie: dict = {}
    for w in sorted(set(words)):
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict) -> str:
        end = node.get("", False)
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body

    return re.compile(r"(?<!\w)(?:" + build(trie) + r")(?!\w)" if trie else r"(?!x)x", re.IGNORECASE)


class Swapper:
    """Replace every listed word by its counterpart, word-boundary aware, keeping capitalisation."""

    def __init__(self, pairs: WordPairs) -> None:
        self.pairs = pairs
        self.first, self.ambiguous = pairs.mapping()
        self.pattern = word_regex(self.first)

    def counterpart(self, word: str, text: str, end: int) -> str:
        low = word.lower()
        if low in _AMBIGUOUS and low in self.ambiguous:
            possessive, other = _AMBIGUOUS[low]
            nxt = _NEXT_WORD.match(text, end)
            target = possessive if nxt and nxt.group(1).lower() not in FUNCTION_WORDS else other
            if target in self.ambiguous[low] or target == self.first[low]:
                return match_case(target, word)
        return match_case(self.first[low], word)

    def swap(self, text: str) -> tuple[str, list[str]]:
        """(swapped text, the lower-cased words that were replaced, in order)."""
        replaced: list[str] = []

        def repl(m: re.Match) -> str:
            replaced.append(m.group(0).lower())
            return self.counterpart(m.group(0), m.string, m.end())

        return self.pattern.sub(repl, text), replaced

    def find(self, text: str) -> list[re.Match]:
        return list(self.pattern.finditer(text))


def offensive_words() -> list[str]:
    """The LDNOOBW English list (403 entries, some multi-word), shipped."""
    return [l.strip() for l in _data("ldnoobw_en.txt").read_text(encoding="utf-8").splitlines() if l.strip()]


def holistic_descriptors(axis: str) -> dict[str, list[str]]:
    """HolisticBias v1.1 descriptors of one axis, by bucket (``race_ethnicity``: asian, black, …;
    ``age``: child, young, middle_aged, old, …). Dispreferred/polarised descriptors are dropped."""
    data = json.loads(_data("holistic_bias_descriptors.json").read_text(encoding="utf-8"))
    if axis not in data:
        raise KeyError(f"unknown HolisticBias axis {axis!r}; axes: {sorted(data)}")
    out = {}
    for bucket, entries in data[axis].items():
        terms = []
        for e in entries:
            if isinstance(e, dict):
                if e.get("preference") in ("dispreferred", "polarizing"):
                    continue
                e = e["descriptor"]
            terms.append(e)
        if terms:
            out[bucket] = terms
    return out


# Person nouns of our own, added to HolisticBias's 32 noun pairs: common words that name people or
# groups of people and that a demographic descriptor often modifies. Deliberately left out: nouns
# where the descriptor changes meaning ("old friend" = long-standing, "senior officer" = rank), and
# "household", mostly a compound modifier ("old household items", "a household name").
EXTRA_PERSON_NOUNS = tuple("""
people persons folk folks gentleman gentlemen baby babies toddler toddlers infant infants teenager teenagers
youth youths adult adults student students pupil pupils worker workers employee employees citizen citizens
resident residents immigrant immigrants patient patients athlete athletes player players soldier soldiers
voter voters neighbour neighbours neighbor neighbors couple couples family families community communities
population populations male males female females nephew nephews niece nieces aunt aunts
uncle uncles cousin cousins granddaughter granddaughters grandson grandsons grandchild grandchildren
""".split())


def holistic_nouns() -> dict[str, list[tuple[str, str]]]:
    """HolisticBias v1.1 person nouns by group (``female``, ``male``, ``neutral``) as (singular, plural), shipped."""
    data = json.loads(_data("holistic_bias_nouns.json").read_text(encoding="utf-8"))
    return {group: [(s, p) for s, p in pairs] for group, pairs in data.items()}


def occupation_nouns() -> tuple[str, ...]:
    """Shipped lower-case occupation nouns (Winogender's 60 and WinoBias's 40, 74 after the exclusions in
    ``data/ATTRIBUTION.md``), singular."""
    return tuple(w for w in _data("occupations.txt").read_text(encoding="utf-8").split("\n") if w)


def plural(noun: str) -> str:
    """The regular English plural of a lower-case noun (chef → chefs, secretary → secretaries, salesperson → salespeople)."""
    for end, new in (("person", "people"), ("man", "men")):
        if noun.endswith(end):
            return noun[: -len(end)] + new
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


def person_nouns() -> frozenset[str]:
    """Lower-case person nouns, singular and plural: HolisticBias's nouns, :data:`EXTRA_PERSON_NOUNS` and
    the shipped occupations (:func:`occupation_nouns`)."""
    words = {w.lower() for pairs in holistic_nouns().values() for pair in pairs for w in pair}
    occupations = {form for w in occupation_nouns() for form in (w, plural(w))}
    return frozenset(words | set(EXTRA_PERSON_NOUNS) | occupations)


def all_descriptor_words() -> frozenset[str]:
    """Every lower-case word of every HolisticBias descriptor on every axis (function words left out):
    the words allowed between a descriptor and its person noun ("young *gay Black* men")."""
    data = json.loads(_data("holistic_bias_descriptors.json").read_text(encoding="utf-8"))
    words = set()
    for buckets in data.values():
        for entries in (buckets.values() if isinstance(buckets, dict) else [buckets]):
            for e in entries:
                d = e["descriptor"] if isinstance(e, dict) else e
                words.add(d.lower())
                words.update(w for w in d.lower().split() if w not in FUNCTION_WORDS)
    return frozenset(w for w in words if " " not in w)

"""Item 10: race/age descriptors are perturbed only where they describe a person; a/an agree; skips are reported."""

from __future__ import annotations

import re

import datasets
import pytest

from babybias.corpus import PerturbationAugmentation, WordListPerturber


def corpus(*texts):
    return datasets.Dataset.from_dict({"text": list(texts)})


@pytest.fixture(scope="module")
def race():
    return WordListPerturber("race")


@pytest.fixture(scope="module")
def age():
    return WordListPerturber("age")


@pytest.mark.parametrize("axis,text,skipped", [
    ("race", "thereby the rotation of the black hole slows down.", ["race/black"]),
    ("race", "The black cat sat.", ["race/black"]),
    ("race", "He met a white rabbit near the White House.", ["race/white", "race/white"]),
    ("race", "non-white people", ["race/white"]),                      # glued to a hyphen
    ("age", "her old bicycle", ["age/old"]),
    ("age", "The Asian woman was young.", ["age/young"]),             # predicative: subject unknown
    ("age", "in their teens", ["age/teen"]),                           # "teens" after their: an age range
    ("age", 'jerome of the old "itala" version', ["age/old"]),          # from the sandbox corpus
    ("age", "readings form the old and new testament", ["age/old"]),
    ("age", "a 3 - year - old child", ["age/old"]),                     # tokenised hyphens
    ("age", "feeding the young and old trees", ["age/young", "age/old"]),
    ("age", "her old family home", ["age/old"]),                        # person noun as a compound modifier
    ("age", "the old family home", ["age/old"]),
    ("race", "a white family home", ["race/white"]),
    ("age", "old household items", ["age/old"]),                        # "household" is no person noun
    ("age", "The old player's club", ["age/old"]),                      # possessive: which noun is described is unknown
    ("race", "the European People\u2019s Party", ["race/european"]),
    ("age", "my old students", ["age/old"]),                            # old after my/her/...: former
    ("age", "an old family friend", ["age/old"]),
])
def test_non_person_uses_are_left_alone_and_counted(race, age, axis, text, skipped):
    p = race if axis == "race" else age
    assert p.candidates(text) == [] and p.skipped(text) == skipped


@pytest.mark.parametrize("axis,text,target,expected", [
    ("age", "an old man", "young", "a young man"),                    # an -> a
    ("age", "An old man", "young", "A young man"),
    ("age", "a young woman", "old", "an old woman"),                  # a -> an
    ("age", "A YOUNG MAN", "old", "AN OLD MAN"),
    ("age", "a 25-year-old woman", "middle_aged", "a middle-aged woman"),
    ("age", "an 80-year-old man", "child", "an adolescent man"),
    ("age", "a young gay Black man", "old", "an old gay Black man"),   # descriptors between
    ("age", "her young daughters", "old", "her old daughters"),
    ("age", "Care for the elderly.", "young", "Care for young people."),  # collective "the elderly"
    ("age", "The elderly are frail.", "young", "Young people are frail."),
    ("age", "Seniors vote.", "young", "Young people vote."),           # plural noun use
    ("race", "an Asian man", "black", "a Black man"),
    ("race", "a Black woman", "indigenous", "an Indigenous woman"),
    ("race", "a black family", "alaska_native", "an Alaska Native family"),
    ("race", "Asians and others", "white", "White people and others"),  # case of "Asians"
    ("race", "the African-American community", "asian", "the Asian community"),
    ("race", "a black family", "white", "a white family"),
    ("age", "a young family member", "old", "an old family member"),
    ("age", "An old man lives alone.", "young", "A young man lives alone."),
])
def test_person_uses_are_perturbed_with_article_agreement(race, age, axis, text, target, expected):
    p = race if axis == "race" else age
    (s, e, _), = p.candidates(text)
    assert p.skipped(text) == [] and p.perturb(text, (s, e), target) == expected


@pytest.mark.parametrize("word,article", [
    ("old", "an"), ("young", "a"), ("Asian", "an"), ("European", "a"), ("elderly", "an"), ("middle-aged", "a"),
    ("hour", "an"), ("honest", "an"), ("unicorn", "a"), ("one-off", "a"), ("80-year-old", "an"), ("18-year-old", "an"),
    ("11-year-old", "an"), ("25-year-old", "a"), ("110-year-old", "a"), ("Alaska Native", "an"),
])
def test_indefinite_article_by_first_sound(word, article):
    from babybias.corpus.perturb import indefinite_article

    assert indefinite_article(word) == article


def test_report_counts_skipped_per_axis_term_and_words_add_up():
    ds = corpus("The black cat saw a black hole.", "An old man rode her old bicycle.", "A black man smiled.", "Nothing.")
    out, rep = PerturbationAugmentation(axis="race", mode="replace", seed=0).apply(ds)
    assert out["text"][:2] == ["The black cat saw a black hole.", "An old man rode her old bicycle."]
    assert re.fullmatch(r"(An Alaska Native|An Asian|A Hispanic|An Indigenous|A Native Hawaiian|A Pacific Islander"
                        r"|A white) man smiled\.", out["text"][2])
    assert rep.skipped == {"race/black": 2} and rep.units_changed == 1 and rep.units_added == 0
    assert rep.words_in == 7 + 7 + 4 + 1 and rep.words_out == rep.words_in + rep.words_rewrite_delta
    age_out, age_rep = PerturbationAugmentation(axis="age", mode="augment", seed=0).apply(ds)
    assert age_rep.skipped == {"age/old": 1} and age_rep.units_added == 1 and len(age_out) == 5
    assert re.fullmatch(r"(An adolescent|A young|A middle-aged|An adult) man rode her old bicycle\.", age_out["text"][2])
    assert age_rep.words_added == 7 and age_rep.check()


def test_race_perturbation_is_deterministic_across_num_proc():
    ds = corpus(*[f"Unit {i}: a {'black' if i % 2 else 'white'} {'woman' if i % 3 else 'hole'} left." for i in range(200)])
    a, ra = PerturbationAugmentation(axis="race", seed=5).apply(ds)
    b, rb = PerturbationAugmentation(axis="race", seed=5).apply(ds, num_proc=2)
    assert a["text"] == b["text"] and ra.to_dict() == rb.to_dict()
    assert sum(ra.skipped.values()) == sum(1 for i in range(200) if i % 3 == 0) and ra.units_added == 200 - 67


@pytest.mark.parametrize("axis,skipped", [("age", {}), ("race", {"race/black": 1})])
def test_terms_and_skips_only_after_the_first_map_batch(axis, skipped):
    """A first 1,000-row batch with no term or skip used to type ``_terms``/``_skipped`` as list<null>
    and crash with "Couldn't cast array of type string to null" on a later batch."""
    ds = corpus(*["Nothing here."] * 1500, "a black hole and an old man")
    out, rep = PerturbationAugmentation(axis=axis, mode="replace", seed=0).apply(ds)
    assert len(out) == 1501 and out["text"][:1500] == ["Nothing here."] * 1500 and rep.skipped == skipped
    if axis == "age":
        assert rep.units_changed == 1 and re.fullmatch(r"a black hole and (an adolescent|a young|a middle-aged|an adult) man",
                                                       out["text"][-1])
    else:
        assert rep.units_changed == 0 and out["text"][-1] == "a black hole and an old man"


def test_young_adults_is_never_rewritten_to_adult_adults(age):
    """A target whose word is the head noun itself is never picked ("young adults" -> "adult adults")."""
    assert age.candidates("young adults") == [(0, 5, "young")] and age.skipped("young adults") == ["age/adult"]
    assert age.perturb("young adults", (0, 5), "old") == "old adults"  # "adults" is the head noun, not a candidate
    assert age.target_options("young adults", (0, 5), "young", age.groups()) == ["child", "middle_aged", "old"]
    ds = corpus(*["Many young adults voted."] * 40)
    out, rep = PerturbationAugmentation(axis="age", mode="replace", seed=1).apply(ds)
    assert set(out["text"]) == {"Many adolescent adults voted.", "Many middle-aged adults voted.", "Many old adults voted."}
    assert rep.skipped == {"age/adult": 40} and rep.units_changed == 40


def test_each_row_is_scanned_once():
    """The perturbation map classifies each occurrence once (not again for candidates, skips and the rewrite)."""
    calls = []

    class Counting(WordListPerturber):
        def _kind(self, text, s, e, form):
            calls.append(text[s:e])
            return super()._kind(text, s, e, form)

    ds = corpus("An old man rode her old bicycle.", "Nothing.")
    out, rep = PerturbationAugmentation(axis="age", perturber=Counting("age"), mode="replace", seed=0).apply(ds)
    assert calls == ["old", "old"] and rep.skipped == {"age/old": 1} and rep.units_changed == 1
    assert re.fullmatch(r"(An adolescent|A young|A middle-aged|An adult) man rode her old bicycle\.", out["text"][0])


@pytest.mark.parametrize("text,target,expected", [
    # issue 19, item 13: occupation nouns (Winogender's and WinoBias's, shipped) are person nouns
    ("The Asian engineer and the Black nurse are friends.", "white",
     "The White engineer and the Black nurse are friends."),
    ("an Asian nurse", "black", "a Black nurse"),
    ("Black salespeople", "asian", "Asian salespeople"),          # irregular plural of an occupation
    ("two Asian secretaries", "white", "two White secretaries"),
])
def test_occupation_nouns_are_person_nouns(race, text, target, expected):
    s, e, _ = race.candidates(text)[0]
    assert race.perturb(text, (s, e), target) == expected


def test_the_shipped_occupations_and_their_plurals():
    from babybias.corpus.wordlists import occupation_nouns, person_nouns, plural

    occupations = occupation_nouns()
    assert len(occupations) == 74 and {"engineer", "nurse", "ceo", "salesperson"} <= set(occupations)
    assert not {"officer", "guard", "cleaner"} & set(occupations)  # left out on purpose (ATTRIBUTION.md)
    assert [plural(w) for w in ("secretary", "salesperson", "chef", "attendant", "boss", "day")] == \
        ["secretaries", "salespeople", "chefs", "attendants", "bosses", "days"]
    assert {"engineers", "nurses", "secretaries"} <= person_nouns()

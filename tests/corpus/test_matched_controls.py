"""Item 11: controls match the words (not only the units) an intervention added or removed."""

from __future__ import annotations

import datasets
import pytest

from babybias.corpus import CDA, RandomDuplication, RandomRemoval, Report, ToxicityFilter, WordListScorer


def corpus(*texts):
    return datasets.Dataset.from_dict({"text": list(texts)})


def words(texts):
    return sum(len(t.split()) for t in texts)


def long_and_short():
    """30 short gendered units (3-4 words) and 30 long neutral ones (20-49 words)."""
    short = [f"She is {'here' if i % 2 else 'at home'}." for i in range(30)]
    long = [" ".join(["the weather report for today"] * 4 + ["x"] * i) for i in range(30)]
    return corpus(*(short + long))


def test_duplication_matches_the_words_cda_added_within_1_percent():
    ds = long_and_short()
    cda, cda_rep = CDA().apply(ds)
    assert cda_rep.words_added == 15 * 3 + 15 * 4 == words(cda["text"]) - words(ds["text"])
    dup, rep = RandomDuplication(cda_rep, seed=0).apply(ds)
    added = dup["text"][len(ds):]
    assert set(added) <= set(ds["text"]) and rep.words_added == words(added)
    assert abs(rep.words_added - 105) <= 1 and rep.notes["words_target"] == 105 and rep.notes["words_within_1_percent"]
    assert rep.words_out == words(dup["text"]) and rep.notes["units_target"] == 30 and rep.check()
    again, _ = RandomDuplication(cda_rep, seed=0).apply(ds)
    assert again["text"] == dup["text"]
    units, urep = RandomDuplication(cda_rep, seed=0, match="units").apply(ds)  # the old behaviour, on request
    assert urep.units_added == 30 and len(units) == 90


def test_duplication_word_target_larger_than_the_corpus():
    ds = corpus("a b c", "d e", "f g h i j", "k")
    dup, rep = RandomDuplication(25, match="words", seed=1).apply(ds)
    assert rep.words_added == 25 and words(dup["text"]) == 11 + 25  # 11-word corpus: every unit reused
    with pytest.raises(ValueError, match="match must be one of"):
        RandomDuplication(5, match="tokens").apply(ds)


def test_random_removal_takes_a_target_in_units_words_or_a_report():
    toxic = [f"You are a dick number {i} and more words here to make it long." for i in range(10)]  # 14 words each
    clean = [f"Fine unit {i}." for i in range(60)] + [f"A much longer clean unit {i} with a few more words." for i in range(60)]
    ds = corpus(*(toxic + clean))
    filtered, frep = ToxicityFilter().apply(ds)
    assert (frep.units_removed, frep.words_removed) == (10, 140) and frep.words_out == words(filtered["text"])
    ctrl, rep = RandomRemoval(target=frep, seed=0).apply(ds)
    assert abs(rep.words_removed - 140) <= 1 and rep.words_removed == words(ds["text"]) - words(ctrl["text"])
    assert all(t in ctrl["text"] for t in toxic) and rep.notes["words_target"] == 140 and rep.check()
    again, arep = RandomRemoval(target=frep, seed=0).apply(ds, num_proc=2)
    assert again["text"] == ctrl["text"] and arep.to_dict() == rep.to_dict()
    by_units, urep = RandomRemoval(target=frep, match="units", seed=0).apply(ds)
    assert urep.units_removed == 10
    _, irep = RandomRemoval(target=7, seed=0).apply(ds)
    assert irep.units_removed == 7
    _, wrep = RandomRemoval(target=300, match="words", scorer=None, seed=0).apply(ds)  # e.g. a length filter's control
    assert abs(wrep.words_removed - 300) <= 3 and wrep.notes["toxic_units_kept"] == 0
    length_filter = Report("length-filter", unit="document", units_in=130, units_out=125, units_removed=5, words_in=1000,
                           words_out=950, words_removed=50)
    _, lrep = RandomRemoval(target=length_filter, scorer=None, seed=3).apply(ds)
    assert abs(lrep.words_removed - 50) <= 1 and lrep.notes["units_target"] == 5  # 1 % of 50 < 1 word: closest reachable
    assert lrep.notes["words_within_1_percent"] == (lrep.words_removed == 50)
    with pytest.raises(ValueError, match="count or target"):
        RandomRemoval(count=3, target=3).apply(ds)
    with pytest.raises(ValueError, match="cannot remove 99999 words"):
        RandomRemoval(target=99999, match="words").apply(ds)
    old_style = Report("old-filter", units_in=3, units_out=2, units_removed=1)  # a report without word counts
    with pytest.raises(ValueError, match="no word counts"):
        RandomRemoval(target=old_style).apply(ds)


def test_report_check_accounts_for_words():
    with pytest.raises(AssertionError, match="10 words in \\+ 5 added - 0 removed \\+ 0 rewritten != 14 out"):
        Report("x", words_in=10, words_added=5, words_out=14).check()
    _, rep = CDA(two_sided=False).apply(corpus("He is a man.", "The cat."))
    assert (rep.words_in, rep.words_out, rep.words_added, rep.words_rewrite_delta) == (6, 6, 0, 0)


def test_tokens_are_reported_when_a_tokenizer_is_given():
    from babybias.testing import tiny_tokenizer

    tok = tiny_tokenizer("wordpiece")
    ds = long_and_short()
    cda, cda_rep = CDA(tokenizer=tok).apply(ds)
    added_rows = [t for t in cda["text"] if t not in ds["text"]]
    expect = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in added_rows)
    assert len(added_rows) == 30 and cda_rep.tokens_added == expect > 0
    dup, rep = RandomDuplication(cda_rep, seed=0, tokenizer=tok).apply(ds)
    assert rep.tokens_added == sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in dup["text"][len(ds):])
    assert rep.notes["tokens_target"] == cda_rep.tokens_added and rep.params["tokenizer"]


def test_sandbox_duplication_control_matches_cdas_words():
    from babybias.experiment import get_experiment, shipped_corpus

    corpus, exp = shipped_corpus(), get_experiment("cda")
    augmented, (cda,) = exp.apply_intervention(corpus, seed=0)
    duplicated, dup = exp.make_control(corpus, augmented, [cda], seed=0).apply(corpus)
    assert cda.words_added == 79525  # as measured in the issue
    assert abs(dup.words_added - cda.words_added) <= cda.words_added // 100
    assert dup.units_added != cda.units_added and len(duplicated) == 16316 + dup.units_added

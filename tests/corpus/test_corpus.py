"""Corpus interventions against hand-written expected outputs, determinism, reports and bad input."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from babybias.corpus import (CDA, CDS, CorpusError, PerturbationAugmentation, Pipeline, RandomDuplication, RandomRemoval,
                             Swapper, ToxicityFilter, TransformersScorer, WordListScorer, WordPairs, load_corpus, save_corpus,
                             split_sentences, to_sentences)
from tests.conftest import shared_data


def corpus(*texts, **extra):
    return datasets.Dataset.from_dict({"text": list(texts), **extra})


@pytest.fixture(scope="module")
def swapper():
    return Swapper(WordPairs.gender())


@pytest.mark.parametrize("text,expected", [
    ("He is a man.", "She is a woman."),
    ("HE SAID NO", "SHE SAID NO"),                              # capitalisation kept: upper
    ("The King met the queen.", "The Queen met the king."),       # title and lower
    ("His mother's car", "Her father's car"),                    # possessive 's
    ("I gave her the book.", "I gave him the book."),             # her + function word -> him
    ("Her book is red.", "His book is red."),                    # her + content word -> his
    ("The book is his.", "The book is hers."),                   # his at clause end -> hers
    ("She saw her own son", "He saw his own daughter"),
    ("this thistle is theirs", "this thistle is theirs"),         # no match inside words
    ("Heroes, hermits and hers.", "Heroes, hermits and his."),    # only whole words
    ("step-mother", "step-father"),
])
def test_swapper_by_hand(swapper, text, expected):
    assert swapper.swap(text)[0] == expected


def test_names_and_other_axes_by_passing_pairs():
    names = WordPairs.from_pairs([("John", "Mary"), ("james", "linda")], source="my names")
    sw = Swapper(WordPairs.gender() + names)
    assert sw.swap("John told Mary that he saw JAMES.")[0] == "Mary told John that she saw LINDA."
    religion = WordPairs.from_pairs([("church", "mosque")])
    assert Swapper(religion).swap("The church.")[0] == "The mosque."
    with pytest.raises(ValueError, match="two single words"):
        WordPairs.from_pairs([("new york", "paris")])


def test_bias_bench_lists_from_a_users_copy():
    path = shared_data("word_lists", "bias_bench_bias_attribute_words.json")
    gender = WordPairs.from_bias_bench(path, "gender")
    race = WordPairs.from_bias_bench(path, "race")
    assert len(gender.pairs) == 57 and len(race.pairs) == 18  # 6 triples -> 3 pairs each
    assert Swapper(gender).swap("the actress")[0] == "the actor"


def test_cda_two_sided_one_sided_and_report(swapper):
    ds = corpus("He is a man.", "The cat sat.", "She is his mother.", meta=[1, 2, 3])
    two, rep = CDA().apply(ds)
    assert two["text"] == ["He is a man.", "She is a woman.", "The cat sat.", "She is his mother.", "He is her father."]
    assert two["meta"] == [1, 1, 2, 3, 3]
    assert (rep.units_in, rep.units_out, rep.units_changed, rep.units_added, rep.words_changed) == (3, 5, 2, 2, 5)
    assert rep.words_in == 11 and rep.terms == {"he": 1, "man": 1, "she": 1, "his": 1, "mother": 1}
    one, rep1 = CDA(two_sided=False).apply(ds)
    assert one["text"] == ["She is a woman.", "The cat sat.", "He is her father."]
    assert (rep1.units_out, rep1.units_added, rep1.units_changed) == (3, 0, 2)


def test_cds_substitutes_about_half_deterministically():
    ds = corpus(*([f"He is man number {i}." for i in range(400)] + ["No gendered word."]))
    out, rep = CDS(seed=3).apply(ds)
    again, _ = CDS(seed=3).apply(ds)
    other, _ = CDS(seed=4).apply(ds)
    assert out["text"] == again["text"] != other["text"]
    changed = sum(t.startswith("She") for t in out["text"])
    assert rep.units_changed == changed and 160 < changed < 240 and len(out) == len(ds)
    assert out["text"][-1] == "No gendered word."


def test_determinism_across_num_proc():
    ds = corpus(*[f"Unit {i}: {'He' if i % 3 else 'She'} met her brother." for i in range(300)])
    for make in (lambda: CDS(seed=1), lambda: PerturbationAugmentation(axis="gender", seed=2)):
        a, ra = make().apply(ds)
        b, rb = make().apply(ds, num_proc=2)
        assert a["text"] == b["text"] and ra.to_dict() == rb.to_dict()


def test_perturbation_by_axis():
    ds = corpus("The Asian woman was young.", "Nothing here.")
    race, rep = PerturbationAugmentation(axis="race", seed=0).apply(ds)
    assert race["text"][0] == "The Asian woman was young." and len(race) == 3 and rep.units_added == 1
    assert race["text"][1].endswith(" woman was young.") and "Asian" not in race["text"][1]
    age, rep = PerturbationAugmentation(axis="age", mode="replace", seed=0).apply(ds)
    assert age["text"][0] == "The Asian woman was young." and rep.skipped == {"age/young": 1}  # predicative: left alone
    age, _ = PerturbationAugmentation(axis="age", mode="replace", seed=0).apply(corpus("The young Asian woman smiled."))
    assert age["text"][0].startswith("The ") and age["text"][0].endswith(" Asian woman smiled.") and "young" not in age["text"][0]
    gender, rep = PerturbationAugmentation(axis="gender", mode="replace").apply(ds)
    assert gender["text"] == ["The Asian man was young.", "Nothing here."] and rep.notes["examples"] == ["woman->man"]


def test_toxicity_filter_and_its_control_by_hand():
    ds = corpus("He is kind. You are a dick.", "The shit cat sat.", "Nothing here.", "A nice day. Truly.")
    doc, rep = ToxicityFilter(scorer=WordListScorer()).apply(ds)
    assert doc["text"] == ["Nothing here.", "A nice day. Truly."] and rep.units_removed == 2
    sent, rep = ToxicityFilter(scorer=WordListScorer(), level="sentence").apply(ds)
    assert sent["text"] == ["He is kind.", "Nothing here.", "A nice day. Truly."]
    assert (rep.units_in, rep.units_removed, rep.units_out, rep.notes["documents_removed"]) == (6, 2, 4, 1)
    ctrl, rep = RandomRemoval(scorer=WordListScorer(), level="sentence", seed=0).apply(ds)
    assert rep.units_removed == 2 and "You are a dick." in " ".join(ctrl["text"]) and "shit" in " ".join(ctrl["text"])
    assert sum(len(split_sentences(t)) for t in ctrl["text"]) == 4


def test_word_list_scorer_phrases_and_boundaries():
    s = WordListScorer(["damn", "hot pocket"])
    assert s.score(["Damn!", "a hot  pocket", "damnation", "hot dog"]).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_profanity_check_scorer():
    pytest.importorskip("profanity_check")
    from babybias.corpus import ProfanityCheckScorer

    scores = ProfanityCheckScorer().score(["You are a fucking idiot", "The weather is nice today"])
    assert scores[0] > 0.5 > scores[1]


def test_transformers_scorer_reads_the_toxic_label():
    def fake_pipeline(texts, batch_size):
        return [[{"label": "TOXIC", "score": 0.9 if "bad" in t else 0.1}, {"label": "neutral", "score": 0.1}] for t in texts]

    scorer = TransformersScorer(fake_pipeline)
    assert scorer.score(["bad words", "fine"]).tolist() == [0.9, 0.1]
    with pytest.raises(KeyError, match="labels are"):
        TransformersScorer(fake_pipeline, toxic_label="hate").score(["x"])


def test_random_duplication_matches_an_augmentation():
    ds = corpus(*[f"She is woman {i}." for i in range(5)], "No words.")
    _, cda = CDA().apply(ds)
    dup, rep = RandomDuplication(cda, seed=0).apply(ds)
    assert rep.units_added == cda.units_added == 5 and len(dup) == len(ds) + 5
    assert set(dup["text"][len(ds):]) <= set(ds["text"]) and len(set(dup["text"][len(ds):])) == 5  # no repeats
    big, _ = RandomDuplication(14, seed=0).apply(ds)
    assert len(big) == 20


def test_pipeline_reports_each_step():
    ds = corpus("He is a man.", "The shit cat.", "She sat.")
    out, reports = Pipeline([ToxicityFilter(), CDA(two_sided=False)]).apply(ds)
    assert out["text"] == ["She is a woman.", "He sat."]
    assert [r.intervention for r in reports] == ["toxicity-filter", "cda-one-sided"] and all(r.check() for r in reports)


def test_streaming_cda_reports_as_it_goes():
    ds = corpus("He is a man.", "The cat sat.")
    stream, rep = CDA().apply(ds.to_iterable_dataset())
    assert rep.units_in == 0
    assert [r["text"] for r in stream] == ["He is a man.", "She is a woman.", "The cat sat."]
    assert (rep.units_in, rep.units_out, rep.units_added) == (2, 3, 1) and rep.check()


def test_sentences_layout():
    ds = corpus("One. Two! Three?", "Four")
    s = to_sentences(ds)
    assert s["text"] == ["One.", "Two!", "Three?", "Four"] and s["document"] == [0, 0, 0, 1]


# ----------------------------------------------------------------------------------- bad input


def test_bad_rows_and_columns_are_named():
    with pytest.raises(CorpusError, match="row 1: column 'text' is empty"):
        CDA().apply(corpus("ok", "  "))
    with pytest.raises(CorpusError, match="row 0: column 'text' holds int"):
        CDA().apply(datasets.Dataset.from_dict({"text": [3]}))
    with pytest.raises(CorpusError, match="no 'text' column"):
        ToxicityFilter().apply(datasets.Dataset.from_dict({"body": ["x"]}))


def test_load_and_save_corpus(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\nsecond line\n")
    (tmp_path / "b.train").write_text("para one\nstill one\n\npara two\n")
    lines = load_corpus(tmp_path)
    assert lines["text"] == ["first line", "second line", "para one", "still one", "para two"]
    paras = load_corpus(tmp_path / "b.train", layout="paragraphs")
    assert paras["text"] == ["para one\nstill one", "para two"]
    out = save_corpus(lines, tmp_path / "out" / "corpus.txt")
    assert load_corpus(out)["text"] == lines["text"]
    with pytest.raises(CorpusError, match="newline"):
        save_corpus(paras, tmp_path / "x.txt")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(CorpusError, match=r"bad\.txt: not UTF-8 .* at byte 3"):
        load_corpus(tmp_path / "bad.txt")


def test_real_text_sample_round_trip():
    import csv
    import gzip
    import io

    path = shared_data("english_text_sample", "wikipedia_en_validation.csv.gz")
    texts = [r["text"] for r in csv.DictReader(io.StringIO(gzip.open(path, "rt").read()))][:2000]
    ds = corpus(*texts)
    out, rep = CDA().apply(ds)
    assert rep.units_out == len(out) == 2000 + rep.units_added and rep.words_changed >= rep.units_changed > 0
    swap = Swapper(WordPairs.gender())
    ambiguous = set(swap.ambiguous)  # words with several counterparts (her/his/...) do not round-trip
    checked = 0
    for t in texts[:500]:
        new, replaced = swap.swap(t)
        if replaced and not ambiguous & set(replaced):
            assert swap.swap(new)[0] == t  # swapping twice restores the text
            checked += 1
    assert checked >= 10


def test_seq2seq_perturber_prompts_in_panda_format():
    import torch

    from babybias.corpus import Seq2SeqPerturber
    from babybias.testing import tiny_tokenizer

    tok = tiny_tokenizer("wordpiece")

    class EchoModel:  # stands in for a seq2seq model: "generates" its input back
        device = torch.device("cpu")
        prompts: list[str] = []

        def generate(self, input_ids, attention_mask=None, **kwargs):
            self.prompts.append(tok.decode(input_ids[0], skip_special_tokens=True))
            return input_ids

    model = EchoModel()
    out, rep = PerturbationAugmentation(axis="gender", perturber=Seq2SeqPerturber(model, tok), mode="replace").apply(
        corpus("the woman was tall .", "no terms here ."))
    # "<word>, <target> <PERT_SEP> <text>" (the tiny vocabulary has no "<", ">" or "_": they decode as nothing)
    assert len(model.prompts) == 1 and model.prompts[0] == "woman, man pert sep the woman was tall."
    assert out["text"][0] == model.prompts[0] and out["text"][1] == "no terms here ." and rep.units_changed == 1


def test_terms_only_after_the_first_map_batch():
    """A first 1,000-row batch with no swapped word used to type ``_terms`` as list<null> and crash later batches."""
    ds = corpus(*["Nothing here."] * 1500, "She met a man.")
    out, rep = CDA().apply(ds)
    assert len(out) == 1502 and out["text"][-2:] == ["She met a man.", "He met a woman."]
    assert rep.terms == {"man": 1, "she": 1} and rep.units_added == 1 and rep.check()
    out, rep = CDS(p=1.0).apply(ds)
    assert out["text"][-1] == "He met a woman." and rep.terms == {"man": 1, "she": 1} and rep.check()


def test_word_check_compares_independently_counted_words():
    """``words_rewrite_delta`` is summed per row (out - in over rows not added), not the leftover, so check() can fail."""
    from babybias.corpus.cda import _aggregate, _run_streaming
    from babybias.corpus.core import Report

    _, rep = PerturbationAugmentation(axis="age", mode="replace", seed=3).apply(corpus("Seniors vote.", "He ran."))
    assert (rep.words_in, rep.words_out, rep.words_rewrite_delta, rep.words_added) == (4, 5, 1, 0)  # "X people vote."
    _, rep = CDA().apply(corpus("She is an actress.", "Nothing."))
    assert (rep.words_in, rep.words_out, rep.words_added, rep.words_rewrite_delta) == (5, 9, 4, 0)
    # tampered statistics: the added row also claims 2 input words
    stats = {"text": ["a b c", "a b c d"], "_n_swaps": [1, 0], "_terms": [["x"], []], "_words": [3, 2], "_changed": [1, 0],
             "_added": [0, 1], "_out_words": [3, 4]}
    tampered = Report("tampered", units_in=1, units_out=2)
    _aggregate(tampered, datasets.Dataset.from_dict(stats))
    assert (tampered.words_in, tampered.words_added, tampered.words_rewrite_delta, tampered.words_out) == (5, 4, 0, 7)
    with pytest.raises(AssertionError, match="rewritten != 7 out"):
        tampered.check()
    stream, streamed = _run_streaming(corpus("a b c").to_iterable_dataset(), lambda batch, indices: stats,
                                      Report("tampered-stream"), list(stats)[1:])
    assert [r["text"] for r in stream] == ["a b c", "a b c d"]
    with pytest.raises(AssertionError, match="rewritten != 7 out"):
        streamed.check()


def test_tokens_added_counts_only_the_added_rows():
    seen = []

    def words(texts, add_special_tokens):
        seen.extend(texts)
        return {"input_ids": [t.split() for t in texts]}

    ds = corpus(*["Nothing here."] * 1500, "She met a man.", "He ran.")
    _, rep = CDA(tokenizer=words).apply(ds)
    assert rep.tokens_added == 4 + 2 and seen == ["He met a woman.", "She ran."]


def test_interventions_take_a_list_of_strings_and_say_what_else_they_take():
    # issue 19, item 11: CDA().apply(["text"]) raised AttributeError: 'list' object has no attribute 'column_names'
    out, report = CDA(two_sided=True).apply(["The man said he was late."])
    assert out["text"] == ["The man said he was late.", "The woman said she was late."] and report.units_in == 1
    assert PerturbationAugmentation(axis="race", mode="replace", seed=0).apply(("an Asian nurse",))[0]["text"] != ["an Asian nurse"]
    with pytest.raises(CorpusError, match="list of strings, got one string"):
        CDA().apply("The man.")
    with pytest.raises(CorpusError, match="got a list holding int"):
        Pipeline([CDA()]).apply(["fine", 3])

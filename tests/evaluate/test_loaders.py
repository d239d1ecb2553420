"""Loaders: row counts on the shipped files, the user's-copy and shared-data paths, and errors
that name the file, line and field."""

from __future__ import annotations

import collections
import gzip
import json

import pytest

from babybias.evaluate import DataFormatError
from babybias.evaluate.crows_pairs import load_crows_pairs
from babybias.evaluate.loaders import data_path
from babybias.evaluate.minimal_pairs import babylm_filtered_ids, blimp_paradigms, load_blimp, load_ewok, load_minimal_pairs
from babybias.evaluate.stereoset import load_stereoset, stereoset_items
from babybias.evaluate.winobias import load_winobias
from tests.conftest import FIXTURES, shared_data


def test_crows_pairs_shipped_counts():
    rows = load_crows_pairs()
    assert len(rows) == 1508
    assert collections.Counter(r["direction"] for r in rows) == {"stereo": 1290, "antistereo": 218}
    types = collections.Counter(r["bias_type"] for r in rows)
    assert types["race-color"] == 516 and types["gender"] == 262 and types["disability"] == 60 and len(types) == 9


@pytest.mark.parametrize("split,intra,inter", [("dev", 2106, 2123), ("test", 6392, 6374)])
def test_stereoset_shipped_counts(split, intra, inter):
    doc = load_stereoset(split)
    items = stereoset_items(doc)
    assert len(items) == intra and len(stereoset_items(doc, "intersentence")) == inter
    assert collections.Counter(i["bias_type"] for i in items)["gender"] == (255 if split == "dev" else 771)
    assert all(s["template_word"] for i in items for s in i["sentences"].values())


def test_stereoset_template_word_strips_punctuation():
    items = {i["id"]: i for i in stereoset_items(load_stereoset("dev"))}
    item = next(i for i in items.values() if i["context"].endswith("BLANK."))
    for s in item["sentences"].values():
        assert s["template_word"] and not s["template_word"].endswith(".")


def test_blimp_shipped_counts_and_fields():
    rows = load_blimp()
    assert len(rows) == 67000 and len(blimp_paradigms()) == 67
    assert {r["field"] for r in rows} == {"syntax", "morphology", "syntax_semantics", "semantics"}
    terms = collections.Counter(r["phenomenon"] for r in rows if r["pair_id"] == "0")
    assert len(terms) == 13 and terms["island_effects"] == 8
    filtered = load_blimp(subset="babylm_filtered")
    assert len(filtered) == 59875 == sum(len(v) for v in babylm_filtered_ids().values())
    assert sum(r["UID"] == "adjunct_island" for r in filtered) == 928


def test_blimp_babylm_subset_equals_the_shared_copy():
    folder = shared_data("blimp_filtered_babylm")
    ours = {(r["UID"], r["sentence_good"], r["sentence_bad"]) for r in load_blimp(subset="babylm_filtered")}
    theirs = set()
    for path in folder.glob("*.jsonl.gz"):
        for line in gzip.open(path, "rt"):
            rec = json.loads(line)
            theirs.add((rec["UID"], rec["sentence_good"], rec["sentence_bad"]))
    assert ours == theirs


def test_blimp_users_copy_and_paradigm_selection():
    rows = load_blimp(source=shared_data("blimp"), paradigms=["adjunct_island", "principle_A_case_2"])
    assert len(rows) == 2000 and {r["field"] for r in rows} == {"syntax", "syntax_semantics"}
    with pytest.raises(FileNotFoundError, match="no_such_paradigm"):
        load_blimp(paradigms=["no_such_paradigm"])


def test_winobias_shipped_counts():
    rows = load_winobias("all")
    assert len(rows) == 3168
    assert collections.Counter((r["split"], r["type"], r["stereotype"]) for r in rows) == {
        (sp, t, st): 396 for sp in ("dev", "test") for t in ("type1", "type2") for st in ("pro", "anti")}
    r = rows[0]
    assert r["referent"] == "The developer" and [r["sentence"][s:e] for s, e in r["pronoun_spans"]] == ["he"]


def test_supplement_and_ewok_from_shared_data():
    supp = load_minimal_pairs(shared_data("blimp_supplement"))
    assert len(supp) == 5218
    assert collections.Counter(r["task"] for r in supp)["turn_taking"] == 280
    assert any("\n" in r["sentence_good"] for r in supp)  # dialogue newlines are kept
    ewok = load_ewok(shared_data("ewok_filtered_babylm", "ewok_filtered.zip"), password="ewok")
    assert len(ewok) == 7618 and len({r["domain"] for r in ewok}) == 11  # already both ways: not doubled


def test_licenses_ship_next_to_data():
    for folder in ("crows_pairs", "stereoset", "blimp", "winobias"):
        assert any(p.name.startswith(("LICENSE", "ATTRIBUTION")) for p in data_path(folder).iterdir()), folder
    assert not data_path("ewok").exists()  # never shipped


# ------------------------------------------------------------------------------------------ errors


def test_bad_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"sentence_good": "a", "sentence_bad": "b"}\n{oops\n')
    with pytest.raises(DataFormatError, match=r"pairs\.jsonl, line 2: invalid JSON"):
        load_minimal_pairs(path)


def test_missing_or_empty_field_is_named(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"sentence_good": "a", "sentence_bad": "b"}\n{"sentence_good": "a"}\n')
    with pytest.raises(DataFormatError, match=r"line 2, field 'sentence_bad': missing field"):
        load_minimal_pairs(path)
    path.write_text('{"sentence_good": "", "sentence_bad": "b"}\n')
    with pytest.raises(DataFormatError, match=r"line 1, field 'sentence_good'"):
        load_minimal_pairs(path)


def test_blimp_missing_pair_id(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps({"sentence_good": "a", "sentence_bad": "b", "UID": "x", "field": "syntax",
                                                  "linguistics_term": "t"}) + "\n")
    with pytest.raises(DataFormatError, match="field 'pairID'"):
        load_blimp(source=tmp_path)


def test_crows_bad_direction_and_encoding(tmp_path):
    text = (FIXTURES / "crows_small.csv").read_text().replace(",antistereo,", ",sideways,")
    path = tmp_path / "crows.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=r"crows\.csv, line 4, field 'stereo_antistereo'"):
        load_crows_pairs(path)
    path.write_bytes(b",sent_more\n0,caf\xe9\n")
    with pytest.raises(DataFormatError, match=r"crows\.csv: not UTF-8"):
        load_crows_pairs(path)


def test_stereoset_bad_label_names_the_item(tmp_path):
    doc = json.loads((FIXTURES / "stereoset_small.json").read_text())
    doc["data"]["intrasentence"][1]["sentences"][0]["gold_label"] = "stereotypical"
    path = tmp_path / "ss.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=r"data\.intrasentence\[1\]\.sentences\[0\]\.gold_label"):
        stereoset_items(load_stereoset(source=path), path=path)


def test_winobias_without_pronoun_bracket(tmp_path):
    for name in ("pro_stereotyped_type1", "anti_stereotyped_type1", "pro_stereotyped_type2", "anti_stereotyped_type2"):
        (tmp_path / f"{name}.txt.test").write_text("1 [The nurse] smiled.\n")
    with pytest.raises(DataFormatError, match="line 1: expected a bracketed referent and pronoun"):
        load_winobias(source=tmp_path)


def test_missing_path_and_unknown_split():
    with pytest.raises(FileNotFoundError, match="hf:"):
        load_crows_pairs("no/such/file.csv")
    with pytest.raises(ValueError, match="split"):
        load_stereoset("train")


def test_hub_sources_are_converted(monkeypatch):
    """The hub code path (no network here): a stand-in load_dataset returns hub-shaped datasets."""
    import datasets

    from babybias.evaluate import crows_pairs, minimal_pairs

    crows = datasets.Dataset.from_dict(
        {"id": [0], "sent_more": ["the poor are lazy ."], "sent_less": ["the rich are lazy ."],
         "stereo_antistereo": [1], "bias_type": [2]},
        features=datasets.Features({"id": datasets.Value("int32"), "sent_more": datasets.Value("string"),
                                    "sent_less": datasets.Value("string"),
                                    "stereo_antistereo": datasets.ClassLabel(names=["stereo", "antistereo"]),
                                    "bias_type": datasets.ClassLabel(names=["race-color", "socioeconomic", "gender"])}))
    blimp = datasets.Dataset.from_list([{"sentence_good": "a b", "sentence_bad": "b a", "field": "syntax/semantics",
                                         "linguistics_term": "t", "UID": "adjunct_island", "pairID": "3"}])
    calls = []

    def fake(name, config=None, split="train"):
        calls.append((name, config, split))
        return crows if "crows" in name else blimp

    monkeypatch.setattr(crows_pairs, "hub_dataset", fake)
    monkeypatch.setattr(minimal_pairs, "hub_dataset", fake)
    rows = load_crows_pairs("hf:nyu-mll/crows_pairs")
    assert rows == [{"id": 0, "sent_more": "the poor are lazy .", "sent_less": "the rich are lazy .",
                     "direction": "antistereo", "bias_type": "gender"}]
    b = load_blimp("hf:nyu-mll/blimp", paradigms=["adjunct_island"])
    assert b[0]["field"] == "syntax_semantics" and b[0]["pair_id"] == "3"
    assert calls == [("nyu-mll/crows_pairs", None, "test"), ("nyu-mll/blimp", "adjunct_island", "train")]


def test_stereoset_hub_copy_is_rebuilt_in_the_official_layout(monkeypatch):
    import datasets

    from babybias.evaluate import stereoset

    label = datasets.ClassLabel(names=["anti-stereotype", "stereotype", "unrelated"])
    features = datasets.Features({"id": datasets.Value("string"), "target": datasets.Value("string"),
                                  "bias_type": datasets.Value("string"), "context": datasets.Value("string"),
                                  "sentences": datasets.Sequence({"sentence": datasets.Value("string"),
                                                                  "id": datasets.Value("string"), "gold_label": label})})
    ds = datasets.Dataset.from_list([{"id": "i1", "target": "chess player", "bias_type": "profession",
                                      "context": "The chess player was BLANK.",
                                      "sentences": {"sentence": ["The chess player was asian.", "The chess player was hispanic.",
                                                                 "The chess player was fox."],
                                                    "id": ["s", "a", "u"], "gold_label": [1, 0, 2]}}], features=features)
    monkeypatch.setattr(stereoset, "hub_dataset", lambda name, config=None, split="train": ds)
    items = stereoset_items(load_stereoset("dev", "hf:McGill-NLP/stereoset"))
    assert items[0]["sentences"]["stereotype"] == {"id": "s", "sentence": "The chess player was asian.", "template_word": "asian"}
    with pytest.raises(ValueError, match="only the StereoSet dev set"):
        load_stereoset("test", "hf:McGill-NLP/stereoset")

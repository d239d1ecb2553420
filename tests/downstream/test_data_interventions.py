"""Downstream data loaders, the interventions and the classifier builder (tiny models, shipped / shared data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from babybias.downstream import (BIOS_PROFESSIONS, DataError, NoPretraining, Rebalance, Scrub, UpstreamDebias,
                                 WeightPerturbation, classifier_input, finetune, finetune_recipe, get_intervention,
                                 get_task, identity_terms, load_bios, load_classifier, load_finetuned, load_toxicity,
                                 madlibs_77k, predict_proba, read_table, scrub_bio, scrub_terms, share_female,
                                 wikipedia_toxicity_test)
from babybias.testing import tiny_masked_lm, tiny_tokenizer
from tests.conftest import shared_data

BIOS = ("bias_in_bios", "bios_sample_28_professions.csv.gz")


# --------------------------------------------------------------------------- data


def test_shared_bios_sample_loads_with_labels_in_labhc_order():
    bios = load_bios(shared_data(*BIOS))
    assert len(bios) == 280 and list(bios.columns) == ["text", "label", "profession", "gender"]
    assert bios.groupby("profession").size().eq(10).all() and set(bios.profession) == set(BIOS_PROFESSIONS)
    assert (bios.gender == "male").sum() == 155 and (bios.gender == "female").sum() == 125  # counts in SOURCE.md
    assert (bios.label.map(lambda i: BIOS_PROFESSIONS[i]) == bios.profession).all()
    share = share_female(bios)
    assert share["nurse"] == 1.0 and share["software_engineer"] == 0.0  # SOURCE.md: nurse 10 F, software_engineer 10 M


def test_bios_from_labhc_integers_and_bad_values_name_the_row():
    frame = pd.DataFrame({"hard_text": ["a bio", "another bio"], "profession": [13, 24], "gender": [1, 0]})
    bios = load_bios(frame)
    assert bios.profession.tolist() == ["nurse", "software_engineer"] and bios.gender.tolist() == ["female", "male"]
    with pytest.raises(DataError, match=r"row 1: column 'gender' holds 'x'"):
        load_bios(frame.assign(gender=[1, "x"]))
    with pytest.raises(DataError, match="outside the 28 Bias in Bios occupations"):
        load_bios(frame.assign(profession=["nurse", "astronaut"]))
    with pytest.raises(DataError, match="no text column"):
        load_bios(frame.rename(columns={"hard_text": "words"}))


def test_read_table_formats_and_errors(tmp_path):
    frame = pd.DataFrame({"comment_text": ["you are kind", "you are awful"], "target": [0.1, 0.8]})
    for name, write in (("a.csv", lambda p: frame.to_csv(p, index=False)), ("a.jsonl", lambda p: frame.to_json(p, orient="records", lines=True)),
                        ("a.tsv", lambda p: frame.to_csv(p, sep="\t", index=False))):
        write(tmp_path / name)
        tox = load_toxicity(tmp_path / name)
        assert tox.label.tolist() == [0, 1] and tox.text.tolist() == frame.comment_text.tolist()
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="unknown format"):
        (tmp_path / "a.txt").write_text("x")
        read_table(tmp_path / "a.txt")
    with pytest.raises(DataError, match=r"column 'target' must hold 0/1"):
        load_toxicity(frame.assign(target=[0.1, 3.0]))


def test_shipped_toxicity_sets_have_the_documented_counts():
    mad = madlibs_77k()
    assert len(mad) == 76_564 and mad.label.sum() == 38_282
    assert mad.template.value_counts()["name_adj"] == 72_000
    wiki = wikipedia_toxicity_test()
    assert len(wiki) == 1_492 and wiki.label.sum() == 248
    fuzzed = wikipedia_toxicity_test(fuzzed=True)
    assert (fuzzed.rev_id == wiki.rev_id).all() and (fuzzed.text != wiki.text).sum() == 734
    terms = identity_terms()
    assert len(terms) == 50 and terms[:3] == ["lesbian", "gay", "bisexual"] and "middle eastern" in terms


# --------------------------------------------------------------------------- interventions


def test_scrub_bio_is_biosbias_regex_plus_names():
    text, n = scrub_bio("She met Mr. Smith; her husband Hershel thanked him and Ms Jane Doe. The shepherd ate.",
                        names=["Jane", "Doe", ""])
    # He/She/her/him/Mr/Ms and the names, whole words only (Hershel, shepherd and The stay)
    assert text == "_ met _. Smith; _ husband Hershel thanked _ and _ _ _. The shepherd ate."
    assert n == 7
    assert scrub_bio("HE and SHE")[0] == "HE and SHE"  # only the first letter's case varies, as in biosbias


def test_scrub_terms_longest_first_and_whole_words():
    text, n = scrub_terms("African American and american people; Americana stays", ["american", "african american"])
    assert text == "_ and _ people; Americana stays" and n == 2


def _bios_frame():
    rows = [("nurse", "female")] * 6 + [("nurse", "male")] * 2 + [("surgeon", "male")] * 5 + [("surgeon", "female")] * 1 \
        + [("dj", "male")] * 3
    return pd.DataFrame({"text": [f"bio {i} she he" for i in range(len(rows))],
                         "label": [BIOS_PROFESSIONS.index(p) for p, _ in rows],
                         "profession": [p for p, _ in rows], "gender": [g for _, g in rows]})


def test_rebalance_bios_equalises_gender_within_occupations():
    task = get_task("bios")
    train = _bios_frame()
    over, _, report = Rebalance().data(train, {}, task, seed=0)
    counts = over.groupby(["profession", "gender"]).size()
    assert counts["nurse"]["female"] == counts["nurse"]["male"] == 6
    assert counts["surgeon"]["female"] == counts["surgeon"]["male"] == 5
    assert counts["dj"]["male"] == 3 and report["one_gender_only"] == ["dj"]
    under, _, _ = Rebalance(mode="undersample").data(train, {}, task, seed=0)
    counts = under.groupby(["profession", "gender"]).size()
    assert counts["nurse"]["female"] == counts["nurse"]["male"] == 2
    again, _, _ = Rebalance().data(train, {}, task, seed=0)
    assert again.equals(over)  # seeded
    with pytest.raises(ValueError, match="oversample"):
        Rebalance(mode="sideways")


def test_rebalance_toxicity_brings_each_term_down_to_the_overall_toxic_share():
    task = get_task("toxicity")
    texts = ["gay people are bad"] * 4 + ["gay people are fine"] * 1 + ["people are fine"] * 15
    labels = [1] * 4 + [0] * 16
    train = pd.DataFrame({"text": texts, "label": labels})
    out, _, report = Rebalance().data(train, {}, task, seed=0)
    overall = 4 / 20
    gay = out.text.str.contains("gay")
    assert out.label[gay].mean() <= overall + 1e-12
    assert report["added"] == {"gay": int(np.ceil(4 / overall - 5))}


def test_scrub_intervention_scrubs_bios_train_and_test_but_only_toxicity_train():
    bios = _bios_frame()
    tr, te, rep = Scrub().data(bios, {"bios": bios}, get_task("bios"), 0)
    assert not tr.text.str.contains(r"\bshe\b").any() and not te["bios"].text.str.contains(r"\bhe\b").any()
    assert rep["replaced_train"] == rep["replaced_test"] == 2 * len(bios)
    tox = pd.DataFrame({"text": ["the gay man", "a kind woman"], "label": [0, 0]})
    tr, te, rep = Scrub().data(tox, {"madlibs": tox}, get_task("toxicity"), 0)
    assert tr.text.tolist() == ["the _ man", "a kind woman"] and te["madlibs"].text.tolist() == tox.text.tolist()


@pytest.fixture(scope="module")
def tiny():
    tok = tiny_tokenizer()
    return tiny_masked_lm(tok), tok


def test_load_classifier_copies_the_trunk_and_seeds_the_new_head(tiny):
    lm, tok = tiny
    a, _ = load_classifier(lm, 3, tokenizer=tok, seed=0)
    b, _ = load_classifier(lm, 3, tokenizer=tok, seed=0)
    c, _ = load_classifier(lm, 3, tokenizer=tok, seed=1)
    trunk = lm.base_model.state_dict()
    assert all(torch.equal(v, a.base_model.state_dict()[k]) for k, v in trunk.items())
    assert torch.equal(a.classifier.weight, b.classifier.weight) and not torch.equal(a.classifier.weight, c.classifier.weight)
    rand, _ = load_classifier(lm, 3, tokenizer=tok, pretrained=NoPretraining.pretrained, seed=0)
    name = "embeddings.word_embeddings.weight"
    assert not torch.equal(rand.base_model.state_dict()[name], trunk[name])


def test_weight_perturbation_is_seeded_and_relative(tiny):
    lm, tok = tiny
    base, _ = load_classifier(lm, 2, tokenizer=tok)
    w = WeightPerturbation(scale=0.1)
    one = w.model(load_classifier(lm, 2, tokenizer=tok)[0], tok, seed=3)
    two = w.model(load_classifier(lm, 2, tokenizer=tok)[0], tok, seed=3)
    name = "embeddings.word_embeddings.weight"
    p0, p1, p2 = (m.base_model.state_dict()[name] for m in (base, one, two))
    assert torch.equal(p1, p2) and not torch.equal(p0, p1)
    ratio = float((p1 - p0).std() / p0.std())
    assert 0.08 < ratio < 0.12
    with pytest.raises(ValueError, match="scale"):
        WeightPerturbation(scale=0)


@pytest.mark.parametrize("family", ["ltg-bert", "gpt-bert"])
def test_babybias_architectures_fine_tune_save_and_load(family, tmp_path):
    from babybias.models import GptBertConfig, GptBertForMaskedLM, LtgBertConfig, LtgBertForMaskedLM

    tok = tiny_tokenizer()
    cfg_cls, lm_cls = (LtgBertConfig, LtgBertForMaskedLM) if family == "ltg-bert" else (GptBertConfig, GptBertForMaskedLM)
    cfg = cfg_cls(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    lm = lm_cls(cfg)
    lm.save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    clf, tok2 = load_classifier(str(tmp_path / "lm"), 2, seed=0)
    assert classifier_input(clf) == "head" and clf.head.decoder.out_features == 2
    prefix = clf.base_model_prefix
    assert torch.equal(getattr(clf, prefix).embeddings.word_embeddings.weight, lm.base_model.embeddings.word_embeddings.weight)
    train = pd.DataFrame({"text": ["he is kind", "she is rude", "they are kind", "we are rude"] * 4, "label": [0, 1, 0, 1] * 4})
    res = finetune(clf, tok2, train, tmp_path / "ft", finetune_recipe("tiny", max_steps=3), seed=0)
    probs = predict_proba(res.model, tok2, ["he is kind", "we are rude"])
    loaded, tok3 = load_finetuned(tmp_path / "ft" / "final")
    np.testing.assert_allclose(predict_proba(loaded, tok3, ["he is kind", "we are rude"]), probs, atol=1e-6)


def test_upstream_debias_projection_is_carried_into_the_classifier(tiny, tmp_path):
    from babybias.debias import SentDebias
    from babybias.debias.base import projection_of

    lm, tok = tiny
    iv = UpstreamDebias(SentDebias(max_pairs=40), corpus=["he is a doctor .", "she is a nurse .", "the man and the woman ."] * 10)
    assert iv.name == "upstream_sent_debias"
    source = iv.source(lm, 0, tok)
    clf, _ = load_classifier(source, 2, tokenizer=tok, seed=0)
    assert classifier_input(clf) == "bert.pooler"
    p = projection_of(clf)
    assert p is not None and np.allclose(p, iv.debiaser.projection_, atol=1e-6)
    # the projection really acts: the pooler sees h P
    seen = []
    clf.bert.pooler.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    enc = tok(["he is kind"], return_tensors="pt")
    clf.eval()
    clf(**enc)
    hidden = clf.bert(**enc).last_hidden_state  # the trunk's output before the pooler's pre-hook
    np.testing.assert_allclose(seen[0].detach().numpy(), (hidden @ torch.as_tensor(p)).detach().numpy(), atol=1e-5)
    train = pd.DataFrame({"text": ["he is kind", "she is rude"] * 8, "label": [0, 1] * 8})
    res = finetune(clf, tok, train, tmp_path / "ft", finetune_recipe("tiny", max_steps=2), seed=0)
    loaded, _ = load_finetuned(tmp_path / "ft" / "final")
    assert np.allclose(projection_of(loaded), p, atol=1e-6)
    np.testing.assert_allclose(predict_proba(loaded, tok, ["he is kind"]), predict_proba(res.model, tok, ["he is kind"]),
                               atol=1e-6)


def test_interventions_by_name_and_bad_names():
    assert [get_intervention(n).name for n in ("baseline", "scrub", "rebalance", "no-pretraining", "weight_perturbation",
                                               "inlp", "sent_debias")] == [
        "baseline", "scrub", "rebalance", "no_pretraining", "weight_perturbation", "upstream_inlp", "upstream_sent_debias"]
    with pytest.raises(ValueError, match="unknown intervention 'magic'"):
        get_intervention("magic")
    with pytest.raises(ValueError, match="projection debiaser"):
        UpstreamDebias(debiaser="inlp")


def test_self_debiased_folder_is_refused_for_fine_tuning(tmp_path):
    (tmp_path / "self_debias.json").write_text("{}")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    from babybias.downstream.finetune import _projection_of_source

    with pytest.raises(ValueError, match="Self-Debias changes decoding"):
        _projection_of_source(str(tmp_path))


def test_roberta_classifier_gets_the_trunk_and_the_projection_at_its_head(tmp_path):
    from transformers import RobertaConfig, RobertaForMaskedLM

    from babybias.debias.base import attach_projection, projection_of, save_debiased

    tok = tiny_tokenizer("bpe")
    cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=80, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    lm = RobertaForMaskedLM(cfg)
    p = np.eye(32) - np.outer(np.ones(32), np.ones(32)) / 32  # removes the all-ones direction
    save_debiased(attach_projection(lm, p), tmp_path / "debiased", tok)
    clf, _ = load_classifier(str(tmp_path / "debiased"), 2, seed=0)
    assert type(clf).__name__ == "RobertaForSequenceClassification" and classifier_input(clf) == "classifier"
    assert torch.equal(clf.roberta.embeddings.word_embeddings.weight, lm.roberta.embeddings.word_embeddings.weight)
    assert np.allclose(projection_of(clf), p, atol=1e-6)
    probs = predict_proba(clf, tok, ["he is kind", "she is rude"])
    assert probs.shape == (2, 2) and np.allclose(probs.sum(1), 1)


def test_gpt_bert_classifier_reads_position_0_or_the_last_token_of_a_causal_pass():
    from babybias.models import GptBertConfig, GptBertForSequenceClassification

    cfg = GptBertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = GptBertForSequenceClassification(cfg).eval()
    ids = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad():
        bidirectional = model.gpt_bert(ids, mask, causal=False).last_hidden_state
        assert torch.allclose(model(ids, mask).logits, model.head(bidirectional[:, 0]), atol=1e-6)
        model.config.classifier_causal = True
        causal = model.gpt_bert(ids, mask, causal=True).last_hidden_state
        expected = model.head(torch.stack([causal[0, 3], causal[1, 2]]))
        assert torch.allclose(model(ids, mask).logits, expected, atol=1e-6)

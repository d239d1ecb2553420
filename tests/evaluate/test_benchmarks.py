"""Each benchmark's metric on tiny fixtures whose expected values are derived by hand.

The UnigramLM of conftest gives every token log(WEIGHTS[w] / total) whatever its context, so
each expected number below follows from the WEIGHTS table alone.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from babybias.evaluate import (BLiMP, CrowsPairs, EWoK, MinimalPairs, StereoSet, WinoBias, evaluate, get_benchmark,
                               list_benchmarks, register, stereoset_metrics)
from babybias.evaluate.crows_pairs import span_positions
from babybias.evaluate.scoring import CausalLMScorer, MaskedLMScorer
from babybias.evaluate.stereoset import mlm_candidate_scores
from tests.conftest import FIXTURES, WEIGHTS, UnigramLM, fixed_wordpiece_tokenizer, logp


@pytest.fixture()
def mlm(wl_tok):
    return MaskedLMScorer(UnigramLM("mlm", wl_tok), wl_tok, progress=False)


@pytest.fixture()
def clm(wl_tok_bos):
    return CausalLMScorer(UnigramLM("clm", wl_tok_bos), wl_tok_bos, progress=False)


# ------------------------------------------------------------------------------------ CrowS-Pairs


def test_span_positions_equal_and_diff(mlm):
    a, b = mlm.encode(["the poor people are lazy .", "the rich people are lazy ."])
    assert span_positions(a, b, equal=True) == ([1, 3, 4, 5, 6], [1, 3, 4, 5, 6])  # CLS/SEP dropped
    assert span_positions(a, b, equal=False) == ([2], [2])


def test_crows_bias_bench_by_hand(mlm):
    res = CrowsPairs(metric="bias_bench", source=FIXTURES / "crows_small.csv").evaluate(mlm)
    # pair 0: poor(1) < rich(3) -> less preferred; pair 1: woman(1) < man(3) -> less;
    # pair 2 (antistereo): he(4) > she(1) -> sent_more preferred; pair 3: sent_more adds nothing -> skipped
    assert res.rows["more_preferred"].tolist() == [False, False, True, False]
    assert res.rows["skipped"].tolist() == [False, False, False, True]
    assert res.rows["score_less"][0] == pytest.approx(round(logp("rich"), 3))
    s = res.scores
    assert s["overall"] == pytest.approx(100 / 3) and s["n_pairs"] == 3 and s["n_skipped"] == 1
    assert s["gender"] == pytest.approx(50.0) and s["socioeconomic"] == 0.0
    assert s["stereo"] == 0.0 and s["antistereo"] == 100.0 and s["neutral"] == 0.0


def test_crows_nangia_ties_when_only_shared_tokens_count(mlm):
    # shared tokens get identical unigram log-probs in both sentences: every pair is a neutral tie,
    # and ties stay in N, so the score is 0 (not 50, not NaN)
    res = CrowsPairs(metric="nangia", source=FIXTURES / "crows_small.csv").evaluate(mlm)
    assert res.rows["neutral"].all()
    assert res.scores["overall"] == 0.0 and res.scores["neutral"] == 100.0 and res.scores["n_pairs"] == 4
    assert res.rows["score_more"][0] == pytest.approx(round(sum(logp(w) for w in "the people are lazy .".split()), 3))


def test_crows_nangia_matches_reference_loop(bert, wp_tok):
    from tests.evaluate.test_scoring import reference_pll

    scorer = MaskedLMScorer(bert, wp_tok, progress=False)
    res = CrowsPairs().evaluate(scorer, limit=15)
    for _, row in res.rows.iterrows():
        a, b = scorer.encode([row["sent_more"], row["sent_less"]])
        pa, pb = span_positions(a, b, equal=True)
        full_a = reference_pll(bert, wp_tok, row["sent_more"])  # one entry per non-special token
        nonspecial_a = [i for i in range(len(a)) if not a.special[i]]
        expected = sum(full_a[nonspecial_a.index(p)] for p in pa)
        assert row["score_more"] == pytest.approx(round(expected, 3), abs=1.5e-3)


def test_crows_lm_eval_for_causal(clm):
    res = CrowsPairs(source=FIXTURES / "crows_small.csv").evaluate(clm)  # auto -> lm_eval
    assert res.config["metric"] == "lm_eval"
    # whole-sentence sums: poor<rich, woman<man, he>she, and the shorter sent_more of pair 3 wins
    assert res.rows["more_preferred"].tolist() == [False, False, True, True]
    assert res.scores["overall"] == 50.0
    assert res.rows["score_more"][3] == pytest.approx(sum(logp(w) for w in "the man was tall .".split()))


def test_crows_metric_kind_mismatch_is_an_error(clm, mlm):
    with pytest.raises(ValueError, match="needs a masked LM"):
        CrowsPairs(metric="nangia", source=FIXTURES / "crows_small.csv").evaluate(clm)
    with pytest.raises(ValueError, match="for causal LMs"):
        CrowsPairs(metric="lm_eval", source=FIXTURES / "crows_small.csv").evaluate(mlm)


# -------------------------------------------------------------------------------------- StereoSet


def test_stereoset_metrics_by_hand():
    def item(i, target, domain):
        return {"id": i, "target": target, "bias_type": domain, "context": "c",
                "sentences": {lab: {"id": f"{i}{lab[0]}"} for lab in ("stereotype", "anti-stereotype", "unrelated")}}

    items = [item("a", "A", "gender"), item("b", "A", "gender"), item("c", "B", "race")]
    score = {"as": .5, "aa": .3, "au": .1,   # pro; both related
             "bs": .2, "ba": .2, "bu": .3,   # tie -> anti; none related
             "cs": .1, "ca": .4, "cu": .2}   # anti; one related
    m = stereoset_metrics(items, score)
    assert (m["gender/ss"], m["gender/lms"], m["gender/icat"], m["gender/count"]) == (50.0, 50.0, 50.0, 2.0)
    assert (m["race/ss"], m["race/lms"], m["race/icat"]) == (0.0, 50.0, 0.0)
    # overall macro-averages the two target terms: SS (50+0)/2, LMS (50+50)/2, ICAT from the averages
    assert (m["overall/ss"], m["overall/lms"], m["overall/icat"]) == (25.0, 50.0, 25.0)
    assert "profession/ss" not in m


def test_stereoset_mlm_by_hand(mlm):
    res = StereoSet(source=FIXTURES / "stereoset_small.json").evaluate(mlm)
    total = sum(WEIGHTS.values())
    row = res.rows.set_index("id")
    assert row.loc["i1", "score_stereotype"] == pytest.approx(WEIGHTS["man"] / total)   # a probability, not a log
    assert row.loc["i2", "score_unrelated"] == pytest.approx(WEIGHTS["cats"] / total)  # "cats." -> "cats"
    # i1: man(3) > woman(1) -> pro, one related; i2: lazy(1) < busy(2) -> anti, one related (tie with cats(1) is not)
    s = res.scores
    assert (s["gender/ss"], s["gender/lms"], s["gender/icat"]) == (100.0, 50.0, 0.0)
    assert (s["overall/ss"], s["overall/lms"], s["overall/icat"]) == (50.0, 50.0, 50.0)


def test_stereoset_mlm_fills_earlier_subtokens_and_leaves_later_out():
    tok = fixed_wordpiece_tokenizer(["un", "##believ", "##ably", "kind", "the", "is", "man", "cat"])
    model = UnigramLM("mlm", tok)
    item = {"id": "x", "context": "the man is BLANK", "sentences": {
        "stereotype": {"id": "s", "sentence": "the man is unbelievably", "template_word": "unbelievably"},
        "anti-stereotype": {"id": "a", "sentence": "the man is kind", "template_word": "kind"},
        "unrelated": {"id": "u", "sentence": "the man is cat", "template_word": "cat"}}}
    scores = mlm_candidate_scores(MaskedLMScorer(model, tok, batch_size=1, progress=False), [item])
    seen = sorted(tuple(tok.convert_ids_to_tokens(c[0].tolist())) for c in model.calls)
    assert ("[CLS]", "the", "man", "is", "un", "##believ", "[MASK]", "[SEP]") in seen
    assert ("[CLS]", "the", "man", "is", "un", "[MASK]", "[SEP]") in seen
    assert ("[CLS]", "the", "man", "is", "[MASK]", "[SEP]") in seen
    assert len(seen) == 5  # 3 pieces + kind + cat
    assert set(scores) == {"s", "a", "u"}


def test_stereoset_clm_is_geometric_mean(clm):
    res = StereoSet(source=FIXTURES / "stereoset_small.json").evaluate(clm)
    words = "the man is tall .".split()
    assert res.rows.set_index("id").loc["i1", "score_stereotype"] == pytest.approx(math.exp(np.mean([logp(w) for w in words])))


def test_stereoset_from_predictions(tmp_path):
    preds = {"intrasentence": [{"id": i, "score": s} for i, s in
                               {"i1s": .9, "i1a": .1, "i1u": .5, "i2s": .1, "i2a": .2, "i2u": .3}.items()],
             "intersentence": [{"id": "x1s", "score": .1}, {"id": "x1a", "score": .3}, {"id": "x1u", "score": .2}]}
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds))
    res = StereoSet(source=FIXTURES / "stereoset_small.json").from_predictions(path)
    s = res.scores
    assert (s["gender/ss"], s["gender/lms"]) == (100.0, 50.0)
    assert (s["race/ss"], s["race/lms"]) == (0.0, 0.0)
    assert (s["intersentence/gender/ss"], s["intersentence/gender/lms"]) == (0.0, 50.0)
    preds["intrasentence"].pop()
    path.write_text(json.dumps(preds))
    with pytest.raises(ValueError, match="i2u"):
        StereoSet(source=FIXTURES / "stereoset_small.json").from_predictions(path)


# ------------------------------------------------------------------------------ BLiMP and friends


@pytest.mark.filterwarnings("ignore:.*of pairs are ties:UserWarning")  # the fixtures hold deliberate ties
def test_blimp_variants_by_hand(mlm, clm):
    src = FIXTURES / "blimp_small"
    # toy_agreement: cat(1) vs cats(1) -> tie -> counted correct in both variants
    # toy_length pair 0: "a cat sleeps ." vs "the the cat sleeps .": the extra high-probability "the"
    #   lowers the sum (good wins) but raises the mean (bad wins); pair 1: he(4) > she(1)
    good0 = [logp(w) for w in "a cat sleeps .".split()]
    bad0 = [logp(w) for w in "the the cat sleeps .".split()]
    assert sum(good0) > sum(bad0) and np.mean(good0) < np.mean(bad0)
    r24 = BLiMP(source=src, variant="babylm2024").evaluate(mlm)
    assert r24.rows["correct"].tolist() == [True, False, True]
    assert r24.rows["score_good"][1] == pytest.approx(np.mean(good0))
    assert r24.scores["paradigm/toy_length"] == 50.0 and r24.scores["paradigm/toy_agreement"] == 100.0
    assert r24.scores["overall"] == 75.0 and r24.scores["micro"] == pytest.approx(200 / 3)
    assert r24.scores["field/syntax_semantics"] == 50.0  # "syntax/semantics" normalised
    r25 = BLiMP(source=src, variant="babylm2025").evaluate(mlm)
    assert r25.rows["correct"].tolist() == [True, True, True] and r25.scores["overall"] == 100.0
    # causal LMs sum in both variants
    assert BLiMP(source=src, variant="babylm2024").evaluate(clm).rows["correct"].tolist() == [True, True, True]


def test_minimal_pairs_any_file(mlm, tmp_path, monkeypatch):
    from babybias.evaluate.registry import REGISTRY

    monkeypatch.setattr(REGISTRY, "_entries", dict(REGISTRY._entries))  # the registration ends with the test
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"good": "he is tall .", "bad": "she is tall ."}) + "\n")
    register(MinimalPairs(name="test_my_pairs", source=path, good_field="good", bad_field="bad"), overwrite=True)
    assert "test_my_pairs" in list_benchmarks()
    res = get_benchmark("test_my_pairs").evaluate(mlm)
    assert res.scores == {"overall": 100.0, "micro": 100.0, "ties": 0.0, "task/mine": 100.0}


@pytest.mark.filterwarnings("ignore:.*of pairs are ties:UserWarning")  # the fixtures hold deliberate ties
def test_ewok_by_hand(clm):
    res = EWoK(source=FIXTURES / "ewok_filtered").evaluate(clm)
    assert len(res.rows) == 4  # already both ways: not doubled again
    # only the target tokens count: he(4) > she(1); cat(1) vs cats(1) is a tie -> correct
    assert res.rows.set_index(["domain", "context"]).loc[("social-relations", "the man is tall ."), "correct"]
    assert res.scores["domain/social-relations"] == 50.0 and res.scores["domain/agent-properties"] == 100.0
    assert res.scores["overall"] == 75.0
    assert res.rows["score_good"][0] == pytest.approx(sum(logp(w) for w in res.rows["target_good"][0].split()))


@pytest.mark.filterwarnings("ignore:.*of pairs are ties:UserWarning")  # the fixtures hold deliberate ties
def test_ewok_core_csv_is_scored_both_ways_and_zip_needs_password(clm):
    core = EWoK(source=FIXTURES / "ewok_core_small.csv").evaluate(clm)
    zipped = EWoK(source=FIXTURES / "ewok_filtered_protected.zip", password="secret").evaluate(clm)
    assert len(core.rows) == 4 and core.scores == zipped.scores
    with pytest.raises(PermissionError, match="password"):
        EWoK(source=FIXTURES / "ewok_filtered_protected.zip").evaluate(clm)
    with pytest.raises(ValueError, match="not shipped"):
        EWoK().evaluate(clm)


# ------------------------------------------------------------------------------------- WinoBias


def test_winobias_by_hand(mlm):
    res = WinoBias(source=FIXTURES / "winobias").evaluate(mlm)
    # type1: written he(4) beats she(1) in pro, loses in anti; type2: pro's "her"(1) loses to the
    # better of him/his(2), anti's "him"(2) beats her(1)
    s = res.scores
    assert (s["type1/pro"], s["type1/anti"], s["type1/gap"]) == (100.0, 0.0, 100.0)
    assert (s["type2/pro"], s["type2/anti"], s["type2/gap"]) == (0.0, 100.0, -100.0)
    assert (s["pro"], s["anti"], s["gap"], s["accuracy"]) == (50.0, 50.0, 0.0, 50.0)


def test_winobias_counterfactuals():
    from babybias.evaluate.winobias import winobias_counterfactuals

    s = "Her boss told her about it."
    assert sorted(winobias_counterfactuals(s, [(0, 3), (s.index(" her") + 1, s.index(" her") + 4)])) == sorted(
        ["Him boss told him about it.", "Him boss told his about it.", "His boss told him about it.", "His boss told his about it."])


# --------------------------------------------------------------------------------------- evaluate


@pytest.mark.filterwarnings("ignore:.*of pairs are ties:UserWarning")  # the fixtures hold deliberate ties
def test_evaluate_flat_scores_frame_and_json(mlm, wl_tok, tmp_path):
    model = UnigramLM("mlm", wl_tok)
    benches = [CrowsPairs(source=FIXTURES / "crows_small.csv", metric="bias_bench"), BLiMP(source=FIXTURES / "blimp_small"),
               WinoBias(source=FIXTURES / "winobias")]
    res = evaluate(model, wl_tok, benches, progress=False)
    assert res.scores["crows_pairs/overall"] == pytest.approx(100 / 3)
    assert res.scores["blimp/overall"] == 75.0 and res.scores["winobias/gap"] == 0.0
    assert all(isinstance(v, float) for v in res.scores.values())
    frame = res.to_frame()
    assert set(frame["benchmark"]) == {"crows_pairs", "blimp", "winobias"} and len(frame) == 4 + 3 + 4
    path = res.to_json(tmp_path / "out" / "result.json")
    again = type(res).from_json(path)
    assert again.scores == pytest.approx(res.scores) and len(again.to_frame()) == len(frame)
    with pytest.raises(ValueError, match="two benchmarks"):
        evaluate(model, wl_tok, [BLiMP(source=FIXTURES / "blimp_small")] * 2, progress=False)
    with pytest.raises(KeyError, match="unknown benchmark"):
        evaluate(model, wl_tok, ["blimpp"], progress=False)


def test_pll_method_reaches_minimal_pair_benchmarks(bert, wp_tok):
    default = evaluate(bert, wp_tok, [BLiMP()], limit=3, progress=False)
    l2r = evaluate(bert, wp_tok, [BLiMP()], limit=3, pll="within_word_l2r", progress=False)
    fixed = evaluate(bert, wp_tok, [BLiMP(pll="original")], limit=3, pll="within_word_l2r", progress=False)
    a, b, c = (r["blimp"].rows["score_good"].to_numpy() for r in (default, l2r, fixed))
    assert not np.allclose(a, b) and np.allclose(a, c)


def test_stereoset_mlm_matches_the_reference_string_method(bert, wp_tok):
    """bias-bench builds each input as text (decode earlier subtokens, append the mask, re-tokenize);
    our id insertion must give the same candidate scores for a tokenizer that round-trips."""
    import torch

    items = StereoSet().items()[:40]
    ours = mlm_candidate_scores(MaskedLMScorer(bert, wp_tok, progress=False), items)
    for item in items:
        for sent in item["sentences"].values():
            pieces = wp_tok.encode(sent["template_word"], add_special_tokens=False)
            probs = []
            for i in range(len(pieces)):
                text = item["context"].replace("BLANK", wp_tok.decode(pieces[:i]) + wp_tok.mask_token)
                ids = wp_tok.encode(text)
                with torch.no_grad():
                    logits = bert(input_ids=torch.tensor([ids])).logits[0, ids.index(wp_tok.mask_token_id)]
                probs.append(torch.softmax(logits, -1)[pieces[i]].item())
            assert ours[sent["id"]] == pytest.approx(np.mean(probs), abs=1e-6)


def test_docs_list_every_registered_benchmark():
    # issue 19, item 15: the list at the top of docs/evaluate.md left out gender_log_odds, kurita, winobias_gender_prediction
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "evaluate.md").read_text()
    paragraph = text.split("Registered names", 1)[1].split("`get_benchmark(", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph)) - {"list_benchmarks", "source"}
    assert documented == set(list_benchmarks())

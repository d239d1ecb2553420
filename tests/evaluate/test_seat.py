"""SEAT (issue 22): bias-bench's weat.py maths on hand-derived vectors, its _encode on a tiny BERT, the data
paths (a folder, the pinned download), the per-sentence rows and their resampled intervals."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from babybias.evaluate import evaluate, get_benchmark
from babybias.evaluate.loaders import DataFormatError
from babybias.evaluate import seat as seat_module
from babybias.evaluate.seat import (SEAT, SEAT_BIAS_TYPES, SEAT_TESTS, download_seat, list_seat_tests, load_seat_test,
                                    seat_encode, seat_encodings, weat_effect_size, weat_p_value)

from ..conftest import FIXTURES, shared_data

SMALL = FIXTURES / "seat_small"

# Hand-derived: a = e1, b = e2, so s(w) = w1 − w2 for unit vectors w.
A, B = np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]])
X = np.array([[1.0, 0, 0], [0.6, 0, 0.8]])      # s = 1, 0.6
Y = np.array([[0, 1.0, 0], [0, 0.6, 0.8]])      # s = −1, −0.6


def test_effect_size_and_exact_p_by_hand():
    # numerator 0.8 − (−0.8) = 1.6; sample sd of (1, .6, −1, −.6) = sqrt(2.72 / 3)
    assert weat_effect_size(X, Y, A, B) == pytest.approx(1.6 / math.sqrt(2.72 / 3), rel=1e-12)
    # the six splits' sums of X′: 1.6 (observed), 0, 0.4, −0.4, 0, −1.6: one reaches 1.6
    assert weat_p_value(np.array([1, 0.6, -1, -0.6]), 2) == pytest.approx(1 / 6)
    # ties count as exceeding: s = (1, .6, 1, .6) gives sums 1.6, 2, 1.6, 1.6, 1.2, 1.6: five of six reach 1.6
    assert weat_p_value(np.array([1, 0.6, 1, 0.6]), 2) == pytest.approx(5 / 6)
    # the effect size's sign follows the targets' order; scaling encodings changes nothing (cosines)
    assert weat_effect_size(Y, X, A, B) == pytest.approx(-weat_effect_size(X, Y, A, B))
    assert weat_effect_size(3 * X, Y, 2 * A, B) == pytest.approx(weat_effect_size(X, Y, A, B))
    with pytest.raises(ValueError, match=r"\|X\| = \|Y\|"):
        weat_p_value(np.array([1.0, 2.0, 3.0]), 1)


def test_rows_aggregate_and_a_resample_with_repeats_by_hand():
    """The same vectors as SEAT rows: aggregate gives the hand d; a resample drawing x1 twice (X = x1, x1, x2) gives
    s = (1, 1, .6, −1, −.6), mean_X − mean_Y = 2.6/3 + 0.8, sd² = 3.52/4 (deviations from 0.2)."""
    frames = [pd.DataFrame({"test": "hand", "bias_type": "", "set": key, "category": key, "p_value": 0.5,
                            "sentence": [f"{key}{i}" for i in range(len(v))],
                            "encoding": [seat_module._pack(e) for e in v.astype(np.float32)]})
              for key, v in zip(("targ1", "targ2", "attr1", "attr2"), (X, Y, A, B))]
    rows = pd.concat(frames, ignore_index=True)
    bench = SEAT(source=".", tests="hand")
    scores = bench.aggregate(rows)
    assert scores["hand/effect_size"] == pytest.approx(1.6 / math.sqrt(2.72 / 3), rel=1e-6)
    assert scores["hand/p_value"] == 0.5  # computed once at evaluation and read back from the rows
    repeat = np.array([0, 0, 1, 2, 3, 4, 5])  # rows: x1 x1 x2 y1 y2 a b
    expected = (2.6 / 3 + 0.8) / math.sqrt(3.52 / 4)
    assert bench.resampler(rows)(repeat)["hand/effect_size"] == pytest.approx(expected, rel=1e-6)
    assert bench.aggregate(rows.iloc[repeat].reset_index(drop=True))["hand/effect_size"] == pytest.approx(expected, rel=1e-6)


def _bias_bench_sampled(s: np.ndarray, n_x: int, n_samples: int, seed: int) -> float:
    """weat.py's sampled branch, transcribed: the observed split once, then n_samples − 1 global shuffles."""
    np.random.seed(seed)
    xy = np.arange(s.size)
    observed, true, total = s[:n_x].sum(), 1, 1
    for _ in range(n_samples - 1):
        np.random.shuffle(xy)
        si = s[xy[:n_x]].sum()
        true += si > observed or si == observed
        total += 1
    return true / total


def test_sampled_and_parametric_p_follow_bias_bench_stream():
    from scipy.stats import norm

    s = np.random.default_rng(1).normal(size=24) + np.r_[np.full(12, 0.3), np.zeros(12)]
    assert math.comb(24, 12) > 500  # sampled, not exact
    got = weat_p_value(s, 12, n_samples=500, rng=np.random.RandomState(7))
    assert got == _bias_bench_sampled(s, 12, 500, 7)
    # parametric: n_samples shuffles of Σx − Σy, normal fit with ddof=1
    np.random.seed(3)
    xy, samples = np.arange(24), []
    for _ in range(300):
        np.random.shuffle(xy)
        samples.append(s[xy[:12]].sum() - s[xy[12:]].sum())
    expected = norm.sf(s[:12].sum() - s[12:].sum(), loc=np.mean(samples), scale=np.std(samples, ddof=1))
    assert weat_p_value(s, 12, n_samples=300, parametric=True, rng=np.random.RandomState(3)) == pytest.approx(expected)
    # exact when the splits are few: every split enumerated
    small = s[:8]
    splits = [small[list(c)].sum() for c in itertools.combinations(range(8), 4)]
    assert weat_p_value(small, 4) == pytest.approx(np.mean(np.array(splits) >= small[:4].sum()))


def _bias_bench_encode(model, tokenizer, texts):
    """seat.py's _encode transcribed: one text at a time, the base encoder's last_hidden_state, mean, L2 norm."""
    encs = {}
    for text in texts:
        inputs = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            enc = model.bert(**inputs)["last_hidden_state"].mean(dim=1)
        encs[text] = enc.detach().view(-1).numpy()
        encs[text] /= np.linalg.norm(encs[text])
    return encs


def test_encoding_equals_bias_bench_encode_on_a_tiny_bert(bert, wp_tok):
    from babybias.models.projection import attach_projection

    texts = ["This is a man.", "That is a girl.", "The family is here.", "This is a wedding.", "This is a man."]
    ours, theirs = seat_encode(bert, wp_tok, texts, batch_size=2), _bias_bench_encode(bert, wp_tok, texts)
    assert list(ours) == list(dict.fromkeys(texts))  # a repeated sentence counts once
    for t in theirs:
        assert ours[t].dtype == np.float32
        np.testing.assert_allclose(ours[t], theirs[t], atol=2e-6)
    # a projection (Sent-Debias, INLP) applies to the last hidden state, as bias-bench's debiased models do
    rng = np.random.default_rng(0)
    v = rng.normal(size=(bert.config.hidden_size, 1))
    p = np.eye(len(v)) - v @ v.T / (v.T @ v)
    projected = seat_encode(attach_projection(bert, p), wp_tok, texts)
    for t in theirs:
        inputs = wp_tok(t, return_tensors="pt")
        with torch.no_grad():
            h = bert.bert(**inputs).last_hidden_state[0] @ torch.tensor(p, dtype=torch.float32)
        enc = h.mean(0).numpy()
        np.testing.assert_allclose(projected[t], enc / np.linalg.norm(enc), atol=2e-6)
        assert abs(float(projected[t] @ v[:, 0])) < 1e-5  # the direction is gone


def test_self_debias_and_models_without_hidden_states_are_refused(gpt2, bpe_tok):
    from babybias.debias import SelfDebias

    wrapped = SelfDebias().fit_apply(gpt2, bpe_tok)
    with pytest.raises(ValueError, match="Self-Debias"):
        seat_encode(wrapped, bpe_tok, ["This is a man."])

    class NoHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(2, 2)

        def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
            return {"logits": torch.zeros(*input_ids.shape, 5)}

    with pytest.raises(ValueError, match="returns no hidden_states"):
        seat_encode(NoHidden(), bpe_tok, ["This is a man."])


def test_seat_on_the_fixture_rows_aggregate_and_resample(bert, wp_tok):
    bench = SEAT(source=str(SMALL), tests="all")
    assert bench.test_names() == ["toy-gender", "toy-weat2"]
    result = evaluate(bert, wp_tok, [bench], progress=False)["seat"]
    rows = result.rows
    assert bench.aggregate(rows) == result.scores
    sizes = rows.groupby(["test", "set"], sort=False).size().to_dict()
    assert sizes[("toy-gender", "targ1")] == 3 and sizes[("toy-gender", "attr2")] == 4  # repeat counted once
    # the scores by hand from the rows' encodings
    for test in ("toy-gender", "toy-weat2"):
        part = rows[rows.test == test]
        e = {k: seat_encodings(part[part.set == k]) for k in ("targ1", "targ2", "attr1", "attr2")}
        assert result.scores[f"{test}/effect_size"] == pytest.approx(weat_effect_size(*e.values()), rel=1e-9)
        s = seat_module.s_values(*e.values())
        splits = [s[list(c)].sum() for c in itertools.combinations(range(s.size), s.size // 2)]
        assert result.scores[f"{test}/p_value"] == pytest.approx(np.mean(np.array(splits) >= s[: s.size // 2].sum()))
    assert not any(k.endswith("mean_abs_effect_size") for k in result.scores)  # no bias type for these tests
    # a stratified resample keeps every set's size, and the prepared resampler equals re-aggregating the rows
    strata = bench.item_strata(rows)
    from babybias.analysis import ItemRows

    cell = ItemRows(rows, bench.aggregate, "toy-gender/effect_size", strata=strata)
    idx = cell.draw(np.random.default_rng(3))
    assert pd.Series(strata[idx]).value_counts().to_dict() == pd.Series(strata).value_counts().to_dict()
    fast, slow = bench.resampler(rows)(idx), bench.aggregate(rows.iloc[idx].reset_index(drop=True))
    assert fast.keys() == slow.keys() and all(fast[k] == pytest.approx(slow[k], rel=1e-9) for k in fast)


def test_item_intervals_and_saved_rows(bert, wp_tok, tmp_path):
    from babybias.evaluate import EvaluationResult
    from babybias.experiment import item_intervals

    bench = SEAT(source=str(SMALL), tests="toy-gender")
    result = evaluate(bert, wp_tok, [bench], progress=False)
    path = result.to_json(tmp_path / "evaluation.json")
    again = EvaluationResult.from_json(path)  # the encodings survive JSON exactly (base64 float32)
    assert bench.aggregate(again["seat"].rows) == result["seat"].scores
    table = item_intervals(again, n_resamples=199)
    assert list(table.metric) == ["seat/toy-gender/effect_size"]  # the p-value is fixed
    row = table.iloc[0]
    assert row.low <= row.estimate <= row.high and row.n == 13 and "re-aggregated" in row.method


def test_data_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jsonl").write_text(json.dumps({"targ1": {"category": "A", "examples": ["x"]}}))
    with pytest.raises(DataFormatError, match=r"broken.jsonl.*field 'targ2'"):
        load_seat_test(bad / "broken.jsonl")
    (bad / "empty.jsonl").write_text(json.dumps({k: {"category": k, "examples": []} for k in
                                                 ("targ1", "targ2", "attr1", "attr2")}))
    with pytest.raises(DataFormatError, match="targ1.examples"):
        load_seat_test(bad / "empty.jsonl")
    with pytest.raises(FileNotFoundError, match=r"sent-religion1.jsonl is not in .*17 of 17"):
        SEAT(source=str(SMALL)).check_data()  # bias-bench's tests are not in the toy folder
    with pytest.raises(ValueError, match="n_samples"):
        SEAT(n_samples=1)
    with pytest.raises(ValueError, match="bias type"):
        SEAT(tests="gender")
    assert list_seat_tests(SMALL) == ["toy-gender", "toy-weat2"]


def test_download_checks_the_pinned_sha256_and_writes_atomically(tmp_path, monkeypatch):
    folder = shared_data("seat")
    fetched = []

    def fake_fetch(url: str) -> bytes:
        fetched.append(url)
        name = url.rsplit("/", 1)[-1]
        return (folder / name).read_bytes()

    monkeypatch.setattr(seat_module, "fetch_url", fake_fetch)
    monkeypatch.setenv("BABYBIAS_CACHE", str(tmp_path / "cache"))
    got = download_seat(["sent-weat6", "sent-religion1"])
    assert got == tmp_path / "cache" / "seat"
    assert {p.name for p in got.iterdir()} == {"LICENSE", "sent-weat6.jsonl", "sent-religion1.jsonl"}
    assert fetched[0].startswith("https://raw.githubusercontent.com/W4ngatang/sent-bias/e3559fb6")
    assert "McGill-NLP/bias-bench/291426aa" in fetched[2]
    for p in got.iterdir():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == seat_module.SHA256[p.name.removesuffix(".jsonl")]
    fetched.clear()
    download_seat(["sent-weat6"])
    assert fetched == []  # already there
    monkeypatch.setattr(seat_module, "fetch_url", lambda url: b'{"tampered": true}')
    with pytest.raises(ValueError, match="not the pinned"):
        download_seat(["sent-weat7"])
    assert not (got / "sent-weat7.jsonl").exists()
    with pytest.raises(ValueError, match="not one of the"):
        download_seat(["no-such-test"])
    assert SEAT(tests="sent-weat6").folder() == got  # source=None reads the cache


@pytest.mark.parametrize("arch", ["ltg-bert", "gpt-bert-causal", "gpt-bert-masked", "gpt2"])
def test_any_model_babybias_scores(arch, wp_tok, bpe_tok, gpt2):
    from babybias.models import GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM, LtgBertConfig, LtgBertForMaskedLM

    small = dict(vocab_size=len(wp_tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64)
    tok, model = wp_tok, None
    if arch == "ltg-bert":
        model = LtgBertForMaskedLM(LtgBertConfig(**small)).eval()
    elif arch.startswith("gpt-bert"):
        cls = GptBertForCausalLM if arch.endswith("causal") else GptBertForMaskedLM
        tok = bpe_tok if arch.endswith("causal") else wp_tok  # a causal scorer needs a BOS token
        model = cls(GptBertConfig(**{**small, "vocab_size": len(tok)})).eval()
    else:
        tok, model = bpe_tok, gpt2
    result = evaluate(model, tok, [SEAT(source=str(SMALL), tests="toy-weat2")], progress=False)["seat"]
    assert np.isfinite(result.scores["toy-weat2/effect_size"])
    if arch.startswith("gpt-bert"):  # the encoder's own last hidden state, in the model's own attention mode
        base = model.gpt_bert(torch.tensor([tok("This is a cat.")["input_ids"]]), causal=arch.endswith("causal"))
        enc = base.last_hidden_state[0].mean(0).detach().numpy()
        got = seat_encodings(result.rows[result.rows.sentence == "This is a cat."])[0]
        np.testing.assert_allclose(got, enc / np.linalg.norm(enc), atol=2e-6)


def test_bias_bench_tests_on_the_real_data(bert, wp_tok):
    folder = shared_data("seat")
    bench = get_benchmark("seat", source=str(folder), n_samples=200)
    result = evaluate(bert, wp_tok, [bench], limit=6, progress=False)["seat"]
    assert [k.removesuffix("/effect_size") for k in result.scores if k.endswith("/effect_size")] == list(SEAT_TESTS)
    for bias, tests in SEAT_BIAS_TYPES.items():  # bias-bench's tables: the mean |d| of each type's tests
        expected = np.mean([abs(result.scores[f"{t}/effect_size"]) for t in tests])
        assert result.scores[f"{bias}/mean_abs_effect_size"] == pytest.approx(expected)
    assert all(0 < result.scores[f"{t}/p_value"] <= 1 for t in SEAT_TESTS)
    assert bench.breakdowns(result.scores) == [f"{b}/mean_abs_effect_size" for b in ("religion", "race", "gender")]


def _bias_bench_run_test(encs: dict, n_samples: int) -> tuple[float, float]:
    """weat.py's run_test, transcribed: int keys, cosines pair by pair, the permutation p on the global
    np.random stream, then the effect size."""
    x, y = list(encs["targ1"].values()), list(encs["targ2"].values())
    a, b = list(encs["attr1"].values()), list(encs["attr2"].values())
    xy, ab = x + y, a + b
    cos = np.zeros((len(xy), len(ab)))
    for i, w in enumerate(xy):
        for j, v in enumerate(ab):
            cos[i, j] = np.dot(w, v) / math.sqrt(np.dot(w, w) * np.dot(v, v))
    ia, ib = np.arange(len(a)), np.arange(len(a), len(ab))
    s = cos[:, ia].mean(axis=1) - cos[:, ib].mean(axis=1)
    X, XY = np.arange(len(x)), np.arange(len(xy))
    observed, true, total = s[X].sum(), 0, 0
    if math.comb(len(xy), len(x)) > n_samples:
        true, total = 1, 1
        for _ in range(n_samples - 1):
            np.random.shuffle(XY)
            si = s[XY[: len(x)]].sum()
            true += si > observed or si == observed
            total += 1
    else:
        for split in itertools.combinations(XY, len(x)):
            si = s[np.array(split)].sum()
            true += si > observed or si == observed
            total += 1
    d = (s[: len(x)].mean() - s[len(x):].mean()) / np.std(s, ddof=1)
    return float(d), true / total


def test_the_seventeen_tests_equal_bias_bench_run_in_order(bert, wp_tok):
    """bias-bench's runner end to end on the first 8 sentences of each set: its encodings, np.random.seed(0) once
    and the 17 tests in its order (each sampled p continues the stream), against SEAT(limit=8)."""
    folder = shared_data("seat")
    result = evaluate(bert, wp_tok, [SEAT(source=str(folder), n_samples=300)], limit=8, progress=False)["seat"]
    np.random.seed(0)
    for test in SEAT_TESTS:
        data = json.loads((folder / f"{test}.jsonl").read_text())
        encs = {k: _bias_bench_encode(bert, wp_tok, data[k]["examples"][:8]) for k in ("targ1", "targ2", "attr1", "attr2")}
        d, p = _bias_bench_run_test(encs, 300)
        assert result.scores[f"{test}/effect_size"] == pytest.approx(d, rel=1e-5, abs=1e-6), test
        assert result.scores[f"{test}/p_value"] == p, test

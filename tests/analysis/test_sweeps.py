"""Checkpoint sweeps: checkpoints found, resumable (nothing re-evaluated, a half-finished sweep resumes), plots."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

import babybias.analysis.sweeps as sweep_module
from babybias.analysis.sweeps import (COLUMNS, Checkpoint, find_checkpoints, plot_trajectories_by_seed, read_results, seed_bands,
                                     sweep, tokens_seen)
from babybias.models import train_tokenizer
from babybias.testing import shipped_sentences
from babybias.train import get_recipe, train

TINY_MODEL = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=48)
BENCH = ["crows_pairs"]
REAL_EVALUATE = sweep_module.evaluate


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two seeds of a 4-step run, checkpoints at steps 2 and 4, plus final/."""
    texts = shipped_sentences(per_paradigm=5)
    corpus = datasets.Dataset.from_dict({"text": texts})
    tok = train_tokenizer(texts, vocab_size=300, kind="bpe", min_frequency=2)
    root = tmp_path_factory.mktemp("runs")
    dirs = []
    for seed in (0, 1):
        cfg = get_recipe("tiny", model_overrides=TINY_MODEL, steps=4, batch_size=4, seq_length=32, log_every=2,
                         save_every=2, keep_last=10, warmup=0.1, seed=seed)
        train(cfg, corpus, tok, root / f"seed{seed}", progress=False)
        dirs.append(root / f"seed{seed}")
    return dirs


class Killed(Exception):
    """Stands for a kill in the middle of a sweep."""


class Counting:
    """Wraps ``evaluate``: counts calls and the benchmarks asked for; optionally fails on call ``fail_at``."""

    def __init__(self, fail_at=None):
        self.calls, self.fail_at, self.real = [], fail_at, REAL_EVALUATE

    def __call__(self, model, tokenizer, benchmarks, **kw):
        if self.fail_at is not None and len(self.calls) + 1 == self.fail_at:
            raise Killed("killed")
        self.calls.append([b.name for b in benchmarks])
        return self.real(model, tokenizer, benchmarks, **kw)


def test_find_checkpoints_steps_seed_tokens(runs):
    found = find_checkpoints(runs[1])
    assert [(c.key, c.step, c.seed) for c in found] == [("step_00000002", 2, 1), ("step_00000004", 4, 1), ("final", 4, 1)]
    assert [c.tokens_seen for c in found] == [2 * 4 * 32, 4 * 4 * 32, 4 * 4 * 32]  # step × batch × seq_length


def test_tokens_seen_follows_the_schedule():
    cfg = get_recipe("tiny", model_overrides=TINY_MODEL, steps=10, batch_size=8, seq_length=32,
                     length_schedule=((0.5, 64, 0.5),))
    # steps 0-4: 8 × 32 = 256 each; steps 5-9: 4 × 64 = 256 each... pick a batch multiplier that differs
    assert tokens_seen(cfg, 10) == 10 * 256
    cfg = cfg.replace(length_schedule=((0.5, 64, 0.25),))  # second half: 2 × 64 = 128 per step
    assert tokens_seen(cfg.to_dict(), 7) == 5 * 256 + 2 * 128


def test_sweep_skips_finished_and_resumes(runs, tmp_path, monkeypatch):
    out = tmp_path / "sweep.jsonl"
    spec = {"tiny": runs}
    # a sweep killed at its 4th checkpoint (of 6): 3 checkpoints written
    killed = Counting(fail_at=4)
    monkeypatch.setattr(sweep_module, "evaluate", killed)
    with pytest.raises(Killed):
        sweep(spec, BENCH, out, limit=2)
    assert len(killed.calls) == 3 and len(out.read_text().splitlines()) == 3
    # a torn line left by a kill mid-write is dropped, not read as a result
    with open(out, "a") as f:
        f.write('{"run": "tiny", "seed": 1, "step"')
    resumed = Counting()
    monkeypatch.setattr(sweep_module, "evaluate", resumed)
    frame = sweep(spec, BENCH, out, limit=2)
    assert len(resumed.calls) == 3  # only the 3 checkpoints not yet done
    assert list(frame.columns) == COLUMNS
    assert sorted(set(zip(frame["seed"], frame["checkpoint"]))) == [
        (s, c) for s in (0, 1) for c in ("final", "step_00000002", "step_00000004")]
    assert set(frame["benchmark"]) == {"crows_pairs"} and "overall" in set(frame["metric"])
    # run again: nothing is evaluated, the file is untouched, the frame is the same
    mtime, again = out.stat().st_mtime_ns, Counting()
    monkeypatch.setattr(sweep_module, "evaluate", again)
    frame2 = sweep(spec, BENCH, out, limit=2)
    assert again.calls == [] and out.stat().st_mtime_ns == mtime
    pd.testing.assert_frame_equal(frame, frame2)
    # a new benchmark evaluates only that benchmark; a different limit is a different result
    frame3 = sweep(spec, BENCH + ["winobias"], out, limit=2)
    assert again.calls == [["winobias"]] * 6 and set(frame3["benchmark"]) == {"crows_pairs", "winobias"}
    # every line is whole JSON
    assert all(json.loads(line) for line in out.read_text().splitlines())


def test_same_name_other_options_is_evaluated_again(runs, tmp_path, monkeypatch):
    """A result is reused only for the same benchmark configuration, not merely the same name."""
    from babybias.evaluate import CrowsPairs

    out, spec = tmp_path / "sweep.jsonl", {"tiny": runs[:1]}
    calls = Counting()
    monkeypatch.setattr(sweep_module, "evaluate", calls)
    first = sweep(spec, [CrowsPairs(metric="nangia")], out, limit=2, kind="mlm")
    sweep(spec, [CrowsPairs(metric="nangia")], out, limit=2, kind="mlm")
    assert len(calls.calls) == 3  # 3 checkpoints once; the repeat reused them
    second = sweep(spec, [CrowsPairs(metric="bias_bench")], out, limit=2, kind="mlm")
    assert len(calls.calls) == 6  # same name, other metric: evaluated again, and only its own rows returned
    assert len(second) == len(first)  # the nangia rows in the file are not returned with the bias_bench ones


def test_seed_bands_warn_when_x_is_missing():
    frame = pd.DataFrame({"run": ["r"] * 3, "seed": [0, 1, 2], "step": [1, 1, 1], "tokens_seen": [10.0, 10.0, float("nan")],
                          "checkpoint": ["final"] * 3, "benchmark": ["b"] * 3, "metric": ["m"] * 3, "value": [1.0, 2.0, 3.0]})
    with pytest.warns(UserWarning, match="no tokens_seen"):
        bands = seed_bands(frame, "b/m", x="tokens_seen")
    assert bands["n"].tolist() == [2]


def test_sweep_matches_a_direct_evaluation(runs, tmp_path):
    from babybias.evaluate import evaluate
    from babybias.models import GptBertForCausalLM
    from transformers import AutoTokenizer

    frame = sweep({"a": [Checkpoint(str(runs[0] / "checkpoints" / "step_00000002"), step=2, seed=7,
                                    tokenizer=str(runs[0] / "tokenizer"))]}, BENCH, tmp_path / "s.jsonl", limit=2)
    assert set(frame["seed"]) == {7} and set(frame["step"]) == {2.0}
    model = GptBertForCausalLM.from_pretrained(runs[0] / "checkpoints" / "step_00000002").eval()
    direct = evaluate(model, AutoTokenizer.from_pretrained(runs[0] / "tokenizer"), BENCH, limit=2, progress=False).scores
    got = dict(zip("crows_pairs/" + frame["metric"], frame["value"]))
    assert got == pytest.approx(direct, nan_ok=True)
    # plain model folders: the step from the folder name, no seed; a tokenizer per run name
    tok = AutoTokenizer.from_pretrained(runs[0] / "tokenizer")
    plain = sweep({"b": [runs[0] / "checkpoints" / "step_00000002", runs[0] / "final"]}, BENCH, tmp_path / "p.jsonl",
                  limit=2, tokenizer={"b": tok})
    assert sorted(set(zip(plain["step"], plain["checkpoint"]))) == [(1.0, "final"), (2.0, "step_00000002")]
    assert plain["seed"].isna().all() and plain["tokens_seen"].isna().all()


def test_plot_trajectories_by_seed(tmp_path):
    rows = [("r", seed, step, step * 100, "ck", "crows_pairs", "overall", 50 + seed + step)
            for seed in (0, 1, 2) for step in (1, 2, 3)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for band in ("minmax", "t95"):
        path = tmp_path / f"{band}.png"
        plot_trajectories_by_seed(frame, ["crows_pairs/overall"], path, band=band, x="tokens_seen")
        assert path.stat().st_size > 1000
    with pytest.raises(KeyError, match="no metric"):
        plot_trajectories_by_seed(frame, ["blimp/overall"], tmp_path / "x.png")


def test_seed_bands_by_hand():
    # seeds 0, 1, 2 at step 10 score 40, 50, 60 (mean 50, sd 10); final at step 10 replaces seed 2's checkpoint (60 -> 63)
    rows = [("r", s, 10, 0, "step_10", "crows_pairs", "overall", v) for s, v in ((0, 40.0), (1, 50.0), (2, 60.0))]
    rows.append(("r", 2, 10, 0, "final", "crows_pairs", "overall", 63.0))
    rows.append(("r", 0, 20, 0, "step_20", "crows_pairs", "overall", 55.0))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    mm = seed_bands(frame, "crows_pairs/overall", band="minmax").set_index("step")
    assert (mm.loc[10, "mean"], mm.loc[10, "low"], mm.loc[10, "high"], mm.loc[10, "n"]) == (51.0, 40.0, 63.0, 3)
    t = seed_bands(frame.replace({63.0: 60.0}), "crows_pairs/overall", band="t95").set_index("step")
    half = 4.302652729911275 * 10 / 3 ** 0.5  # t(0.975, 2) · sd / sqrt(n)
    assert t.loc[10, "low"] == pytest.approx(50 - half) and t.loc[10, "high"] == pytest.approx(50 + half)
    assert pd.isna(t.loc[20, "low"]) and t.loc[20, "n"] == 1


def test_read_results_of_missing_file(tmp_path):
    assert list(read_results(tmp_path / "none.jsonl").columns) == COLUMNS + ["limit", "config_hash"]


def test_seat_and_perplexity_sweep_over_checkpoints_with_seed_bands(runs, tmp_path):
    from babybias.evaluate import SEAT, Perplexity

    fixtures = Path(__file__).resolve().parents[1] / "evaluate" / "fixtures"
    benches = [Perplexity(source=str(fixtures / "perplexity_small.txt"), block_size=16),
               SEAT(source=str(fixtures / "seat_small"), tests="toy-weat2")]
    frame = sweep({"tiny": runs}, benches, tmp_path / "sweep.jsonl", limit=2)
    ppl = frame[(frame["benchmark"] == "perplexity") & (frame["metric"] == "perplexity")]
    assert len(ppl) == 6 and np.isfinite(ppl["value"]).all()  # 2 seeds × 3 checkpoints
    bands = seed_bands(frame, "perplexity/perplexity")
    assert len(bands) == ppl["step"].nunique() and (bands["n"] == 2).all()  # an interval over the 2 seeds per step
    assert {"toy-weat2/effect_size", "toy-weat2/p_value"} <= set(frame[frame["benchmark"] == "seat"]["metric"])

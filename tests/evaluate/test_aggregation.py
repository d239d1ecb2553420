"""Every benchmark's scores are the aggregation of its per-item rows (issue 21), and a new benchmark needs one
file plus its registration to get scores, item values and item intervals in the sandbox's collect."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from babybias.evaluate import EvaluationResult, evaluate, get_benchmark, item_values, list_benchmarks, register
from babybias.evaluate.registry import REGISTRY, Benchmark
from babybias.experiment import item_data

from ..golden.test_golden import HERE as GOLDEN, golden_benchmarks
from .toy_benchmark import PronounAgreement


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    folder = GOLDEN / "tiny_model"
    return AutoModelForMaskedLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_every_registered_benchmark_scores_are_the_aggregation_of_its_items(tiny):
    model, tok = tiny
    seen = []
    for name, bench, limit in golden_benchmarks():
        result = evaluate(model, tok, [bench], limit=limit, progress=False)[name]
        assert _same(bench.aggregate(result.rows), result.scores), name
        assert type(bench).aggregate is not Benchmark.aggregate, f"{name} declares no aggregation"
        routes = item_data(EvaluationResult({name: result}), [f"{name}/{k}" for k in result.scores])
        assert set(routes) == {f"{name}/{k}" for k in result.scores if k not in bench.fixed_keys(result.scores)
                               and np.isfinite(result.scores[k])}, f"{name}: a score without an item interval"
        for key, value in result.scores.items():  # an item mean's values average to the score exactly
            values = bench.item_values(result.rows.reset_index(drop=True), key)
            if values is not None:
                assert np.mean(values) == pytest.approx(value, abs=1e-9, nan_ok=True), f"{name}/{key}"
                seen.append(f"{name}/{key}")
    # every benchmark has item means but SEAT (effect sizes) and perplexity (exp of a ratio): theirs are resampled
    assert sorted({s.split("/")[0] for s in seen}) == sorted(set(list_benchmarks()) - {"seat", "perplexity"})
    assert {"stereoset/overall/ss", "kurita/difference", "gender_log_odds/templates/stereotype_gap",
            "winobias_gender_prediction/accuracy", "ewok/overall", "crows_pairs/gender"} <= set(seen)


def test_fixed_keys_and_nonlinear_scores_have_no_item_values():
    import pandas as pd

    stereo, kurita = get_benchmark("stereoset"), get_benchmark("kurita")
    assert stereo.fixed_keys(["overall/count", "overall/icat"]) == ["overall/count"]
    assert kurita.fixed_keys(["p_value", "mean"]) == ["p_value"]
    # two targets, 3 and 1 contexts: SS per target 2/3 and 1, so the macro SS is 83.33 (not the pooled 75)
    rows = pd.DataFrame({"target": ["a", "a", "a", "b"], "bias_type": "gender", "score_stereotype": [2.0, 2.0, 0.0, 2.0],
                         "score_anti-stereotype": [1.0, 1.0, 1.0, 1.0], "score_unrelated": [0.0, 0.0, 0.0, 3.0]})
    rows_by_name = {"stereoset": rows}
    ss = item_values("stereoset/gender/ss", rows_by_name)
    assert np.mean(ss) == pytest.approx(stereo.aggregate(rows)["gender/ss"]) == pytest.approx(250 / 3)
    assert item_values("stereoset/gender/icat", rows_by_name) is None  # ICAT is resampled, not an item mean
    assert item_values("nobench/x", rows_by_name) is None


def test_a_benchmark_added_in_one_file_gets_scores_items_and_sandbox_item_intervals(tiny, tmp_path, monkeypatch):
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from babybias.experiment import SandboxConfig, collect, item_data
    from babybias.analysis import ItemRows

    monkeypatch.setattr(REGISTRY, "_entries", dict(REGISTRY._entries))  # the registration ends with the test
    register(PronounAgreement())
    model, tok = tiny
    result = evaluate(model, tok, ["pronoun_agreement"], progress=False)
    bench = result["pronoun_agreement"]
    assert np.mean(bench.rows["margin"]) == pytest.approx(bench.scores["mean_margin"])
    items = item_data(result, ["pronoun_agreement/mean_margin", "pronoun_agreement/median_margin",
                               "pronoun_agreement/n_items"])
    assert isinstance(items["pronoun_agreement/mean_margin"], np.ndarray)
    assert isinstance(items["pronoun_agreement/median_margin"], ItemRows)
    assert "pronoun_agreement/n_items" not in items  # a count: no interval

    # the sandbox takes it by name, checks it, fingerprints it and lets it be the primary metric
    config = SandboxConfig(benchmarks=["pronoun_agreement"], primary_metric="pronoun_agreement/median_margin")
    assert "benchmarks" in config.grid_options() and "benchmarks" not in SandboxConfig().grid_options()
    with pytest.raises(ValueError, match="not a registered benchmark"):
        SandboxConfig(benchmarks=["no_such_benchmark"])

    # each cell of a finished grid gets its scores (a random tiny model per cell); collect gives item intervals
    out = tmp_path / "sandbox"
    shutil.copytree(GOLDEN / "sandbox", out, ignore=shutil.ignore_patterns("expected"))
    for k, cell in enumerate(sorted((out / "cells").glob("*/seed-*"))):
        torch.manual_seed(k)
        cell_model = BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                                num_attention_heads=2, intermediate_size=32)).eval()
        extra = evaluate(cell_model, tok, ["pronoun_agreement"], progress=False)
        ev = EvaluationResult.from_json(cell / "evaluation.json")
        EvaluationResult(ev.benchmarks | extra.benchmarks, ev.meta).to_json(cell / "evaluation.json")
        record = json.loads((cell / "scores.json").read_text())
        record["scores"] |= extra.scores
        (cell / "scores.json").write_text(json.dumps(record))
    shown = ["pronoun_agreement/mean_margin", "pronoun_agreement/median_margin"]
    sandbox = collect(out, n_resamples=99, primary_metric=shown[1], metrics=shown, write=False)
    for metric in shown:
        effect = sandbox.effect("cda", metric)
        assert effect.items is not None and effect.items.n == len(bench.rows), metric
        assert effect.items.low <= effect.estimate <= effect.items.high, metric
    assert "re-aggregated" in sandbox.effect("cda", shown[1]).items.method


def test_the_sandbox_command_takes_a_plugin_benchmark(tmp_path, monkeypatch, capsys):
    from babybias.cli import main

    monkeypatch.setattr(REGISTRY, "_entries", dict(REGISTRY._entries))  # the plugin's registration ends with the test
    plugin = tmp_path / "agreement_plugin.py"
    toy = Path(__file__).with_name("toy_benchmark.py")
    plugin.write_text("import importlib.util, sys\n"
                      f"spec = importlib.util.spec_from_file_location('toy_benchmark_cli', {str(toy)!r})\n"
                      "toy = importlib.util.module_from_spec(spec); sys.modules['toy_benchmark_cli'] = toy\n"
                      "spec.loader.exec_module(toy)\n"
                      "from babybias.evaluate import register\nregister(toy.PronounAgreement())\n")
    out = tmp_path / "out"
    argv = ["sandbox", "--plugin", str(plugin), "--benchmark", "pronoun_agreement", "--seeds", "1", "--list-cells",
            "--out", str(out), "--primary-metric", "pronoun_agreement/median_margin"]
    assert main(argv) == 0
    assert "baseline/seed-0" in capsys.readouterr().out
    assert main(["sandbox", "--benchmark", "no_such_benchmark", "--list-cells", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'no_such_benchmark' is not a registered benchmark" in err[0]

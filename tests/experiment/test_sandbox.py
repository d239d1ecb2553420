"""The sandbox experiment and the command line, on a small corpus and a few steps."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from babybias.cli import main
from babybias.experiment import SandboxConfig, run, shipped_corpus, summarize
from babybias.testing import shipped_sentences


def test_shipped_corpus_is_the_wikipedia_sample():
    corpus = shipped_corpus()
    assert len(corpus) == 16316 and corpus[0]["text"] == "thereby the rotation of the black hole slows down."


def test_summarize_composites_by_hand():
    row = summarize({"crows_pairs/overall": 60.0, "stereoset/overall/ss": 45.0, "stereoset/overall/lms": 70.0,
                     "winobias/gap": 10.0, "blimp/overall": 70.0, "ewok/overall": 50.0})
    assert row["winobias/bias"] == 55.0
    assert row["composite_bias"] == pytest.approx((10 + 5 + 5) / 3)
    assert row["composite_performance"] == 60.0


def test_sandbox_runs_resumes_and_writes_its_table(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(shipped_sentences(per_paradigm=6)) + "\n")
    config = SandboxConfig(corpus=str(corpus), output_dir=str(tmp_path / "out"), steps=6, vocab_size=400, blimp_limit=2,
                           bias_limit=20, progress=False)
    table = run(config)
    assert list(table.index) == ["baseline", "cda", "duplication"]
    for col in ("crows_pairs/overall", "stereoset/overall/ss", "winobias/bias", "blimp/overall", "composite_bias",
                "composite_performance"):
        assert table[col].notna().all(), col
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    cda, dup = results["details"]["cda"], results["details"]["duplication"]
    assert min(cda["units"], dup["units"]) > results["details"]["baseline"]["units"]
    added = cda["report"]["words_added"]  # the control matches CDA's additions in words, within 1 %
    assert added > 0 and abs(dup["report"]["words_added"] - added) <= added // 100
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 1000
    assert pd.read_csv(tmp_path / "out" / "table.csv", index_col=0).shape[0] == 3
    logged = (tmp_path / "out" / "cda" / "log.jsonl").read_text()
    again = run(config)  # finished conditions are loaded from their last checkpoint, not retrained
    assert (tmp_path / "out" / "cda" / "log.jsonl").read_text() == logged  # no training step ran
    assert again.loc["cda", "composite_bias"] == pytest.approx(table.loc["cda", "composite_bias"])


def test_cli_evaluate_and_bad_conditions(tmp_path, capsys):
    from babybias.models import GptBertConfig, GptBertForCausalLM, train_tokenizer

    tok = train_tokenizer(shipped_sentences(per_paradigm=6), vocab_size=400, kind="bpe", min_frequency=2)
    model = GptBertForCausalLM(GptBertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=48))
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    assert main(["evaluate", str(tmp_path / "m"), "--kind", "clm", "--benchmarks", "blimp", "--limit", "1",
                 "--output", str(tmp_path / "r.json")]) == 0
    assert "blimp/overall" in capsys.readouterr().out and (tmp_path / "r.json").exists()
    with pytest.raises(ValueError, match="include 'cda'"):
        SandboxConfig(conditions=("baseline", "duplication"))


@pytest.mark.parametrize("options, message", [
    ({"steps": 0}, "steps must be None"), ({"blimp_limit": 0}, "blimp_limit must be None"),
    ({"bias_limit": -1}, "bias_limit must be None"), ({"recipe": "tinny"}, "recipe must be one of"),
])
def test_sandbox_config_validates(options, message):
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**options)


def test_steps_override_an_epoch_based_recipe():
    from babybias.experiment import sandbox_recipe

    recipe = sandbox_recipe(SandboxConfig(recipe="ltg_baseline_10m", steps=5))
    assert recipe.steps == 5 and recipe.epochs is None


@pytest.mark.parametrize("options, message", [
    ({"corpus": "data/corpus.txt"}, "corpus file or folder data/corpus.txt does not exist"),
    ({"supplement": "./blimp_supplement"}, "supplement path ./blimp_supplement does not exist"),
    ({"ewok": "ewok_filtered.zip"}, "ewok path ewok_filtered.zip does not exist"),
])
def test_sandbox_config_checks_paths_before_training(options, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=message):
        SandboxConfig(**options)

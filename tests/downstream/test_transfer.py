"""The bias-transfer grid end to end on the shared Bias in Bios sample and the shipped toxicity sets (tiny models):
table and plot written, resumption after a kill, refusal of a folder made with other options, the regression, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from transformers import TrainerCallback

from babybias.downstream import (TransferConfig, bias_transfer, collect, finetune_recipe, load_bios,
                                 transfer_regression, wikipedia_toxicity_test)
from babybias.testing import tiny_masked_lm, tiny_tokenizer
from tests.conftest import shared_data

BIOS = ("bias_in_bios", "bios_sample_28_professions.csv.gz")
RECIPE = finetune_recipe("tiny", max_steps=40, save_steps=10)


class Kill(TrainerCallback):
    """Raise once, right after the first checkpoint at ``at`` steps is saved: a killed job."""

    def __init__(self, at: int) -> None:
        self.at, self.fired = at, False

    def on_save(self, args, state, control, **kwargs):
        if not self.fired and state.global_step >= self.at:
            self.fired = True
            raise KeyboardInterrupt("killed")


@pytest.fixture(scope="module")
def bios_model():
    bios = load_bios(shared_data(*BIOS))
    tok = tiny_tokenizer(texts=bios.text.tolist(), vocab_size=1500)
    return tiny_masked_lm(tok, hidden=32), tok


def _config(model, tok, out, **kw):
    return TransferConfig(**{"task": "bios", "model": model, "tokenizer": tok, "out_dir": out, "seeds": (0, 1),
                             "finetune": RECIPE, "train": str(shared_data(*BIOS)), "n_resamples": 99, **kw})


def test_bios_grid_end_to_end_resumes_after_a_kill(bios_model, tmp_path):
    model, tok = bios_model
    config = _config(model, tok, tmp_path / "grid")
    kill = Kill(at=20)
    with pytest.raises(KeyboardInterrupt):
        bias_transfer(config, callbacks=[kill], progress=False)
    cell = tmp_path / "grid" / "cells" / "baseline" / "seed-0"
    assert not (cell / "cell.json").exists() and (cell / "finetune" / "checkpoints" / "checkpoint-20").is_dir()
    result = bias_transfer(_config(model, tok, tmp_path / "grid"), progress=False)
    record = json.loads((cell / "cell.json").read_text())
    assert record["resumed_from"].endswith("checkpoint-20") and record["steps"] == 40
    # every intervention x seed, the table, the effects, the regression and the plot
    assert set(result.values.intervention) == {"baseline", "scrub", "rebalance", "no_pretraining", "weight_perturbation"}
    for name in ("table.csv", "effects.csv", "regression.csv", "summary.txt", "results.json", "comparison.png"):
        assert (tmp_path / "grid" / name).stat().st_size > 0, name
    table = result.table[result.table.metric == "gap_rms"]
    assert (table.n == 2).all() and len(table) == 5
    assert result.primary_metric == "gap_rms" and "primary metric gap_rms" in result.summary[0]
    effects = result.effects[result.effects.primary]
    assert len(effects) == 4 and (effects.n == 2).all()
    assert any("− baseline on gap_rms" in line for line in result.summary)
    pretty = result.pretty_table()
    assert pretty.columns[0] == "gap_rms" and "(n=2)" in pretty.iloc[0, 0]
    # per-occupation rows of every cell feed the regression: upstream (Kurita per occupation) and co-occurrence
    assert len(result.groups) == 5 * 2 * 28
    reg = result.regression.set_index("predictor")
    assert set(reg.index) == {"upstream_bias", "cooccurrence"}
    assert reg.loc["cooccurrence", "n_rows"] > 0
    # the rebalanced cells fine-tuned on balanced data: co-occurrence 0.5 wherever both genders exist
    g = result.groups[(result.groups.intervention == "rebalance") & result.groups.cooccurrence.between(0.01, 0.99)]
    assert np.allclose(g.cooccurrence, 0.5)

    # the resumed cell equals an uninterrupted run of the same cell
    fresh = _config(model, tok, tmp_path / "fresh", interventions=["baseline"], seeds=(0,))
    bias_transfer(fresh, progress=False)
    again = json.loads((tmp_path / "fresh" / "cells" / "baseline" / "seed-0" / "cell.json").read_text())
    for metric in ("accuracy", "gap_rms"):
        assert again["metrics"][metric]["estimate"] == pytest.approx(record["metrics"][metric]["estimate"], abs=1e-9)

    # a finished grid re-runs nothing; collect alone rebuilds the same table
    again_result = bias_transfer(_config(model, tok, tmp_path / "grid"), progress=False)
    pd.testing.assert_frame_equal(again_result.table, result.table)
    pd.testing.assert_frame_equal(collect(tmp_path / "grid").table, result.table)


def test_a_folder_made_with_other_options_is_refused(bios_model, tmp_path):
    model, tok = bios_model
    bias_transfer(_config(model, tok, tmp_path / "g", interventions=["baseline"], seeds=(0,)), progress=False)
    with pytest.raises(ValueError, match="other options .*max_train"):
        bias_transfer(_config(model, tok, tmp_path / "g", interventions=["baseline"], seeds=(0,), max_train=100),
                      progress=False)
    # adding a seed or an intervention to the same grid is fine
    bias_transfer(_config(model, tok, tmp_path / "g", interventions=["baseline", "scrub"], seeds=(0,)), cells=[1],
                  progress=False)
    assert (tmp_path / "g" / "cells" / "scrub" / "seed-0" / "cell.json").exists()


def test_toxicity_grid_on_the_shipped_sets(tmp_path):
    tok = tiny_tokenizer(texts=wikipedia_toxicity_test().text.tolist(), vocab_size=1500)
    model = tiny_masked_lm(tok, hidden=32)
    config = TransferConfig(task="toxicity", model=model, tokenizer=tok, out_dir=tmp_path / "tox", seeds=(0, 1),
                            interventions=["baseline", "scrub", "rebalance"], train="wikipedia-sample", max_test=800,
                            finetune=finetune_recipe("tiny", max_steps=30), n_resamples=99,
                            upstream_metric="gender_log_odds/templates/mean_log_odds")
    result = bias_transfer(config, progress=False)
    assert result.primary_metric == "madlibs/fped"
    metrics = set(result.values.metric)
    for m in ("madlibs/fped", "madlibs/fned", "madlibs/auc", "madlibs/fped_noise_floor", "wikipedia/auc", "wikipedia/fped"):
        assert m in metrics, m
    cell = json.loads((tmp_path / "tox" / "cells" / "scrub" / "seed-0" / "cell.json").read_text())
    assert cell["n_test"]["madlibs"] == 800 and cell["report"]["replaced_train"] > 0
    terms = {g["group"] for g in cell["groups"]}
    assert len(terms) == 50 and {"gay", "muslim"} <= terms
    row = next(g for g in cell["groups"] if g["group"] == "gay")
    assert {"fpr", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc", "fpr_low", "bpsn_auc_high"} <= set(row)
    assert (tmp_path / "tox" / "comparison.png").stat().st_size > 0


def test_regression_recovers_a_planted_relation():
    rng = np.random.default_rng(0)
    n = 400
    up, co = rng.normal(size=n), rng.uniform(0, 1, n)
    gap = 0.0 * up + 0.5 * co + rng.normal(scale=0.05, size=n)
    reg = transfer_regression(pd.DataFrame({"signed_gap": gap, "upstream_bias": up, "cooccurrence": co})).set_index("predictor")
    assert reg.loc["cooccurrence", "low"] > 0 and reg.loc["cooccurrence", "r2_alone"] > 0.85
    assert reg.loc["upstream_bias", "low"] < 0 < reg.loc["upstream_bias", "high"]
    sd = co.std(ddof=1)
    assert reg.loc["cooccurrence", "coef_per_sd"] == pytest.approx(0.5 * sd, rel=0.05)


def test_config_checks():
    tok = tiny_tokenizer()
    model = tiny_masked_lm(tok)
    with pytest.raises(ValueError, match="must include 'baseline'"):
        TransferConfig(model=model, tokenizer=tok, interventions=["scrub"])
    with pytest.raises(ValueError, match="needs model="):
        TransferConfig()
    with pytest.raises(ValueError, match="tokenizer="):
        TransferConfig(model=model)
    assert TransferConfig(model=model, tokenizer=tok, seeds=4).seeds == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="toxicity task needs fine-tuning data"):
        TransferConfig(task="toxicity", model=model, tokenizer=tok).task.load(None, None, 0, None, None, 0.25)


def test_cli_downstream_runs_lists_and_collects(bios_model, tmp_path, capsys):
    from babybias.cli import main

    model, tok = bios_model
    model.save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    args = ["downstream", str(tmp_path / "lm"), "--train", str(shared_data(*BIOS)), "--recipe", "tiny", "--max-steps", "5",
            "--seeds", "2", "--interventions", "baseline", "scrub", "--n-resamples", "49", "--out", str(tmp_path / "out"),
            "--quiet"]
    assert main(args + ["--list-cells"]) == 0
    assert "0\tbaseline/seed-0\tto run" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "gap_rms" in out and "(n=2)" in out and "scrub − baseline on gap_rms" in out
    assert main(["downstream", "--collect", str(tmp_path / "out")]) == 0
    assert main(["downstream", str(tmp_path / "lm"), "--train", str(tmp_path / "nope.csv")]) == 2
    assert "--train file" in capsys.readouterr().err
    assert main(["downstream", str(tmp_path / "lm"), "--task", "toxicity", "--out", str(tmp_path / "t")]) == 2
    assert "toxicity task needs fine-tuning data" in capsys.readouterr().err


def test_grid_from_a_saved_model_with_upstream_debiasing_and_upstream_models(bios_model, tmp_path):
    from babybias.debias import SentDebias
    from babybias.downstream import UpstreamDebias, UpstreamModel

    model, tok = bios_model
    for seed in (0, 1):  # "sandbox" models of an intervened corpus, one per seed (here: the same weights, saved twice)
        model.save_pretrained(tmp_path / f"cda-{seed}")
        tok.save_pretrained(tmp_path / f"cda-{seed}")
    model.save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    corpus = ["he is a doctor .", "she is a nurse .", "the man and the woman talked ."] * 10
    config = TransferConfig(task="bios", model=str(tmp_path / "base"), out_dir=tmp_path / "g", seeds=(0, 1),
                            interventions=["baseline", UpstreamDebias(SentDebias(max_pairs=40), corpus=corpus),
                                           UpstreamModel(str(tmp_path / "cda-{seed}"), "cda")],
                            finetune=finetune_recipe("tiny", max_steps=3), train=str(shared_data(*BIOS)), n_resamples=49)
    result = bias_transfer(config, progress=False)
    assert set(result.values.intervention) == {"baseline", "upstream_sent_debias", "cda"}
    from babybias.debias.base import projection_of
    from babybias.downstream import load_finetuned

    clf, _ = load_finetuned(tmp_path / "g" / "cells" / "upstream_sent_debias" / "seed-1" / "finetune" / "final")
    assert projection_of(clf) is not None
    # the same weights under another name: the upstream probe agrees with the baseline's
    up = result.values[result.values.metric == "upstream/kurita"].set_index(["intervention", "seed"]).estimate
    assert up["cda", 0] == pytest.approx(up["baseline", 0], abs=1e-9)
    # a folder's probe is computed once per grid for the interventions that leave the model as it is
    # (baseline: both seeds share one; cda-0 and cda-1 are two folders); the fitted debiaser's is not cached
    assert len(list((tmp_path / "g" / "upstream").glob("*.json"))) == 3
    assert up["baseline", 0] == up["baseline", 1]

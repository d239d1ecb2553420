"""The sandbox grid on a small corpus and a few steps: cells, resume, collect, presets, a user's intervention."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from babybias.cli import main
from babybias.experiment import Experiment, SandboxConfig, cells, collect, get_experiment, run, shipped_corpus, summarize
from babybias.testing import shipped_sentences

HERE = Path(__file__).parent
SMALL = dict(steps=4, vocab_size=400, blimp_limit=2, bias_limit=20, progress=False, n_resamples=199)


@pytest.fixture(scope="session")  # session: built once per worker, even when pytest -n interleaves other files
def corpus_file(tmp_path_factory):
    from babybias.corpus import offensive_words

    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    word = offensive_words()[0]
    lines = shipped_sentences(per_paradigm=6) + [f"she said {word} twice.", f"the {word} man left.", f"{word} again."]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def grid(corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "out"
    config = SandboxConfig(corpus=str(corpus_file), out_dir=str(out), seeds=2, **SMALL)
    return config, run(config)


def test_shipped_corpus_is_the_wikipedia_sample():
    corpus = shipped_corpus()
    assert len(corpus) == 16316 and corpus[0]["text"] == "thereby the rotation of the black hole slows down."


def test_summarize_composites_by_hand():
    row = summarize({"crows_pairs/overall": 60.0, "stereoset/overall/ss": 45.0, "stereoset/overall/lms": 70.0,
                     "winobias/gap": 10.0, "blimp/overall": 70.0, "ewok/overall": 50.0})
    assert row["winobias/bias"] == 55.0
    assert row["composite_bias"] == pytest.approx((10 + 5 + 5) / 3)
    assert row["composite_performance"] == 60.0


def test_grid_writes_self_contained_cells_and_a_table_with_seed_intervals(grid):
    config, result = grid
    out = Path(config.out_dir)
    assert [c.name for c in cells(config)] == ["baseline/seed-0", "cda/seed-0", "duplication/seed-0",
                                               "baseline/seed-1", "cda/seed-1", "duplication/seed-1"]
    for cell in cells(config):
        for f in ("cell.json", "report.json", "evaluation.json", "scores.json", "train/final/config.json",
                  "train/tokenizer/tokenizer.json"):
            assert (cell.path / f).exists(), (cell.name, f)
    # the control matches CDA's words, per seed, and both reports travel with the control cell
    cda = json.loads((out / "cells/cda/seed-1/report.json").read_text())[0]
    dup = json.loads((out / "cells/duplication/seed-1/report.json").read_text())
    assert dup[0]["intervention"] == "random-duplication" and dup[0]["params"]["seed"] == 1
    assert abs(dup[0]["words_added"] - cda["words_added"]) <= cda["words_added"] // 100 and cda["words_added"] > 0
    assert dup[1]["matched_by_control"] and dup[1]["words_added"] == cda["words_added"]
    # per-seed values in results.json; the table's mean and t interval are computed from them
    payload = json.loads((out / "results.json").read_text())
    per_seed = pd.DataFrame(payload["per_seed"])
    primary = result.primary_metric
    assert primary == "gender_log_odds/winobias/mean_log_odds" == payload["primary_metric"]
    v = per_seed[(per_seed["condition"] == "cda") & (per_seed["metric"] == primary)]["value"].to_numpy()
    assert len(v) == 2
    row = result.intervals.set_index(["condition", "metric"]).loc[("cda", primary)]
    half = 12.706204736 * np.std(v, ddof=1) / np.sqrt(2)  # t(0.975, df=1)
    assert row["mean"] == pytest.approx(v.mean()) and row["high"] - row["mean"] == pytest.approx(half)
    assert row["n_seeds"] == 2 and result.table.loc["cda", primary] == pytest.approx(v.mean())
    # the effect is paired by seed: the mean of per-seed differences
    e = result.effect("cda")
    b = per_seed[(per_seed["condition"] == "baseline") & (per_seed["metric"] == primary)].set_index("seed")["value"]
    c = per_seed[(per_seed["condition"] == "cda") & (per_seed["metric"] == primary)].set_index("seed")["value"]
    assert e.estimate == pytest.approx((c - b).mean()) and e.n_seeds == 2 and e.items.n > 0
    assert any(l.startswith("PRIMARY cda − baseline") for l in result.summary)
    assert pd.read_csv(out / "effects.csv").shape[0] == len(result.effects)
    assert (out / "comparison.png").stat().st_size > 5000
    pretty = result.pretty_table()
    assert list(pretty.index) == ["baseline", "cda", "duplication"] and (pretty["n"] == 2).all()
    assert "[" in pretty.loc["cda", primary]
    # per-axis breakdowns have effects too
    assert {"crows_pairs/gender", "stereoset/gender/ss"} <= {e.metric for e in result.effects}
    # and the intervention is compared with its control, paired by seed, besides both with the baseline
    d = per_seed[(per_seed["condition"] == "duplication") & (per_seed["metric"] == primary)].set_index("seed")["value"]
    vs_control = result.effect("cda", reference="duplication")
    assert vs_control.estimate == pytest.approx((c - d).mean()) and vs_control.label == "cda − duplication"
    assert any(l.startswith("PRIMARY cda − duplication") for l in result.summary)


def test_collect_rebuilds_the_table_from_copied_cell_folders(grid, tmp_path):
    config, result = grid
    elsewhere = tmp_path / "collected"
    for cell in cells(config):  # as if each cell had run on another machine and been copied back
        shutil.copytree(cell.path, elsewhere / "cells" / cell.condition / f"seed-{cell.seed}")
    again = collect(elsewhere, n_resamples=199)
    pd.testing.assert_frame_equal(again.intervals, result.intervals)
    assert [e.to_dict() for e in again.effects] == [e.to_dict() for e in result.effects]
    assert (elsewhere / "results.json").exists() and (elsewhere / "comparison.png").exists()
    assert main(["sandbox", "--collect", str(elsewhere), "--n-resamples", "199", "--quiet"]) == 0


def test_rerun_skips_finished_cells_and_refuses_other_options(grid, monkeypatch, capsys):
    import babybias.experiment.sandbox as sandbox

    config, result = grid
    monkeypatch.setattr(sandbox, "train", lambda *a, **k: pytest.fail("a finished cell was trained again"))
    again = run(config)
    pd.testing.assert_frame_equal(again.intervals, result.intervals)
    argv = ["sandbox", "--corpus", config.corpus, "--output", config.out_dir, "--seeds", "2", "--steps", "5",
            "--vocab-size", "400", "--blimp-limit", "2", "--bias-limit", "20", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("babybias: error: ") and "holds a grid made with other options (recipe, steps)" in err


def test_a_killed_grid_resumes_where_it_stopped(corpus_file, tmp_path, monkeypatch):
    import babybias.experiment.sandbox as sandbox
    from babybias.train import latest_valid_checkpoint

    real_train = sandbox.train
    config = SandboxConfig(corpus=str(corpus_file), out_dir=str(tmp_path / "out"), seeds=1,
                           conditions=("baseline", "cda"), **SMALL)
    calls = []

    def killed_in_second_cell(recipe, corpus, tokenizer, output_dir, **kw):
        calls.append(Path(output_dir))
        if len(calls) == 2:
            real_train(recipe, corpus, tokenizer, output_dir, stop_after=2, **kw)
            raise KeyboardInterrupt  # the job was killed two steps into this cell's training
        return real_train(recipe, corpus, tokenizer, output_dir, **kw)

    monkeypatch.setattr(sandbox, "train", killed_in_second_cell)
    with pytest.raises(KeyboardInterrupt):
        run(config)
    baseline, cda = cells(config)
    assert baseline.finished and not cda.finished
    resumed_from = []

    def record(recipe, corpus, tokenizer, output_dir, **kw):
        resumed_from.append((Path(output_dir), latest_valid_checkpoint(Path(output_dir) / "checkpoints")))
        return real_train(recipe, corpus, tokenizer, output_dir, **kw)

    monkeypatch.setattr(sandbox, "train", record)
    result = run(config)
    assert [p for p, _ in resumed_from] == [cda.path / "train"]  # the finished baseline was not retrained
    assert resumed_from[0][1].name == "step_00000002"               # the killed cell resumed from its checkpoint
    assert cda.finished and result.effect("cda").n_seeds == 1 and result.effect("cda").distinguishable is None


def test_cells_run_one_at_a_time_then_collect(corpus_file, tmp_path, capsys, monkeypatch):
    import functools

    from babybias.evaluate import SEAT
    from babybias.experiment import sandbox as sandbox_module

    fixtures = HERE.parent / "evaluate" / "fixtures"
    # SEAT and perplexity as secondary metrics (issue 22): the toy SEAT tests stand in for bias-bench's 17
    monkeypatch.setattr(sandbox_module, "SEAT", functools.partial(SEAT, tests="all"))
    out = tmp_path / "out"
    argv = ["sandbox", "--experiment", "cds", "--corpus", str(corpus_file), "--output", str(out), "--seeds", "1",
            "--steps", "4", "--vocab-size", "400", "--blimp-limit", "2", "--bias-limit", "20", "--quiet",
            "--n-resamples", "199", "--seat", str(fixtures / "seat_small"),
            "--perplexity", str(fixtures / "perplexity_small.txt")]
    assert main(argv + ["--list-cells"]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    assert [l.split("\t")[1] for l in listed] == ["baseline/seed-0", "cds/seed-0"]
    assert main(argv + ["--cell", "1"]) == 0  # e.g. SLURM_ARRAY_TASK_ID=1
    assert "1 of 2 cells done" in capsys.readouterr().out and not (out / "results.json").exists()
    assert main(argv + ["--cell", "0"]) == 0  # the last cell collects the grid
    printed = capsys.readouterr().out
    assert "PRIMARY cds − baseline" in printed and "one seed only" in printed and (out / "results.json").exists()
    scores = json.loads((out / "cells" / "cds" / "seed-0" / "scores.json").read_text())["scores"]
    assert np.isfinite(scores["seat/toy-gender/effect_size"]) and scores["perplexity/perplexity"] > 1
    effects = pd.read_csv(out / "effects.csv")
    ppl = effects[effects.metric == "perplexity/perplexity"].iloc[0]  # a secondary metric with an item interval
    assert np.isfinite(ppl.items_low) and ppl.n_items > 1
    assert main(argv + ["--cell", "7"]) == 2
    assert "cell index 7 is out of range: this grid has 2 cells" in capsys.readouterr().err


def test_toxicity_experiment_runs_from_the_command_line(corpus_file, tmp_path, capsys):
    out = tmp_path / "tox"
    assert main(["sandbox", "--experiment", "toxicity", "--corpus", str(corpus_file), "--output", str(out),
                 "--seeds", "1", "--steps", "3", "--vocab-size", "400", "--blimp-limit", "1", "--bias-limit", "10",
                 "--quiet", "--n-resamples", "99"]) == 0
    printed = capsys.readouterr().out
    assert "PRIMARY toxicity_filter − baseline, crows_pairs/overall" in printed
    filt = json.loads((out / "cells/toxicity_filter/seed-0/report.json").read_text())[0]
    ctrl = json.loads((out / "cells/random_removal/seed-0/report.json").read_text())[0]
    from babybias.corpus import WordListScorer

    lines = corpus_file.read_text().splitlines()
    flagged = int((WordListScorer().score(lines) >= 0.5).sum())  # our three lines and CrowS-Pairs' own
    assert flagged >= 3 and filt["units_removed"] == flagged and filt["words_removed"] > 0
    assert ctrl["notes"]["toxic_units_kept"] == flagged  # the control removes none of them ...
    assert abs(ctrl["words_removed"] - filt["words_removed"]) <= filt["words_removed"] // 100  # ... and as many words


def test_perturbation_experiment_runs_from_the_command_line(corpus_file, tmp_path, capsys):
    out = tmp_path / "pert"
    assert main(["sandbox", "--experiment", "perturbation", "--corpus", str(corpus_file), "--output", str(out),
                 "--seeds", "1", "--steps", "3", "--vocab-size", "400", "--blimp-limit", "1", "--bias-limit", "10",
                 "--quiet", "--n-resamples", "99"]) == 0
    assert "PRIMARY perturbation − baseline, gender_log_odds/winobias/mean_log_odds" in capsys.readouterr().out
    pert = json.loads((out / "cells/perturbation/seed-0/report.json").read_text())[0]
    dup = json.loads((out / "cells/duplication/seed-0/report.json").read_text())[0]
    assert pert["intervention"] == "perturbation-gender-augment" and pert["units_added"] > 0
    assert abs(dup["words_added"] - pert["words_added"]) <= pert["words_added"] // 100


def test_a_users_intervention_runs_end_to_end_with_an_automatic_control(corpus_file, tmp_path, capsys):
    out = tmp_path / "user"
    spec = f"{HERE / 'user_intervention.py'}:Shout"
    assert main(["sandbox", "--experiment", spec, "--primary-metric", "crows_pairs/overall", "--corpus",
                 str(corpus_file), "--output", str(out), "--seeds", "2", "--steps", "3", "--vocab-size", "400",
                 "--blimp-limit", "1", "--bias-limit", "10", "--quiet", "--n-resamples", "99"]) == 0
    printed = capsys.readouterr().out
    assert "PRIMARY shout − baseline, crows_pairs/overall" in printed and "PRIMARY control − baseline" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"]["intervention"].endswith("user_intervention.Shout")  # a class, named
    shout = json.loads((out / "cells/shout/seed-1/report.json").read_text())[0]
    control = json.loads((out / "cells/control/seed-1/report.json").read_text())[0]
    assert shout["params"]["seed"] == 1  # the seed reaches the user's intervention
    assert control["intervention"] == "random-duplication"
    assert abs(control["words_added"] - shout["words_added"]) <= shout["words_added"] // 100


def test_a_users_factory_and_pipeline_in_python(corpus_file, tmp_path, capsys):
    from babybias.experiment import load_object

    factory = load_object(f"{HERE / 'user_intervention.py'}:lowercase_everything")
    exp = Experiment("lower", factory, label="lower")  # control "auto"
    config = SandboxConfig(experiment=exp, corpus=str(corpus_file), out_dir=str(tmp_path / "a"), seeds=1, **SMALL)
    with pytest.raises(ValueError, match="needs no matched control"):  # it adds no words: nothing to match
        run(config)
    none = SandboxConfig(experiment=exp, control="none", corpus=str(corpus_file), out_dir=str(tmp_path / "b"),
                         seeds=1, **SMALL)
    assert none.conditions == ("baseline", "lower")
    result = run(none)
    assert [e.condition for e in result.effects][:1] == ["lower"]


@pytest.mark.parametrize("options, message", [
    ({"steps": 0}, "steps must be None"), ({"blimp_limit": 0}, "blimp_limit must be None"),
    ({"bias_limit": -1}, "bias_limit must be None"), ({"recipe": "tinny"}, "recipe must be one of"),
    ({"seeds": 0}, "seeds must be"), ({"seeds": [1, 1]}, "lists a seed twice"), ({"seeds": [-1]}, "seeds must be"),
    ({"experiment": "cdaa"}, "experiment must be one of"), ({"conditions": ("baseline", "dup")}, "conditions must be among"),
    ({"conditions": ("baseline", "duplication")}, "include 'cda' too"), ({"axis": "race"}, "axis applies to"),
    ({"experiment": "os:path"}, "is a module, not an Intervention"), ({"experiment": "nosuchmod:x"}, "no module named"),
    ({"n_resamples": 0}, "n_resamples must be an integer"),
])
def test_sandbox_config_validates(options, message):
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**options)


def test_seat_and_perplexity_options_are_checked_and_fingerprinted_only_when_given(tmp_path):
    plain = SandboxConfig()
    assert "seat" not in plain.grid_options() and "perplexity" not in plain.grid_options()
    with_seat = SandboxConfig(seat="cache")  # the downloaded copy: not a path to check
    assert with_seat.grid_options()["seat"] == "cache" and with_seat.fingerprint() != plain.fingerprint()
    with pytest.raises(FileNotFoundError, match="perplexity path"):
        SandboxConfig(perplexity=str(tmp_path / "nope.txt"))
    text = tmp_path / "t.txt"
    text.write_text("a line\n")
    assert SandboxConfig(perplexity=str(text)).grid_options()["perplexity"]["files"] == [["t.txt", 7]]


def test_steps_override_an_epoch_based_recipe():
    from babybias.experiment import sandbox_recipe

    recipe = sandbox_recipe(SandboxConfig(recipe="ltg_baseline_10m", steps=5))
    assert recipe.steps == 5 and recipe.epochs is None


def test_presets_name_their_primary_metric_and_conditions():
    assert get_experiment("cda").conditions == ("baseline", "cda", "duplication")
    assert get_experiment("cds").conditions == ("baseline", "cds")
    assert get_experiment("toxicity").conditions == ("baseline", "toxicity_filter", "random_removal")
    assert get_experiment("perturbation", axis="race").primary_metric == "crows_pairs/race-color"
    for name in ("cda", "cds", "perturbation"):
        assert get_experiment(name).primary_metric == "gender_log_odds/winobias/mean_log_odds"
    assert get_experiment("toxicity").primary_metric == "crows_pairs/overall"
    # the fingerprint is the same in every process (no memory addresses in the description)
    assert "0x" not in json.dumps(get_experiment("toxicity").describe())


def test_collect_can_correct_the_primary_metric_and_restrict_to_cells(grid, tmp_path):
    config, result = grid
    fixed = collect(config.out_dir, n_resamples=99, write=False, primary_metric="crows_pairs/overall")
    assert fixed.primary_metric == "crows_pairs/overall" and fixed.summary[2].endswith("crows_pairs/overall")
    seed0 = collect(config.out_dir, n_resamples=99, write=False, cells=[c.name for c in cells(config) if c.seed == 0])
    assert set(seed0.values["seed"]) == {0} and seed0.effect("cda").distinguishable is None
    with pytest.raises(ValueError, match="is not a score the sandbox computes"):
        SandboxConfig(primary_metric="crows_pair/overall")


def test_a_tokenizer_trained_with_other_options_is_refused(grid):
    from babybias.experiment.sandbox import SandboxError, _load_or_train_tokenizer

    config, _ = grid
    out = Path(config.out_dir)
    same = _load_or_train_tokenizer(config, None, out)  # loaded, not trained (no corpus needed)
    assert len(same) <= 400
    other = SandboxConfig(corpus=config.corpus, out_dir=config.out_dir, seeds=2, **(SMALL | {"vocab_size": 300}))
    with pytest.raises(SandboxError, match="was trained with other options"):
        _load_or_train_tokenizer(other, None, out)


def test_fingerprints_follow_parameters_and_not_the_process():
    import subprocess
    import sys

    from babybias.corpus import ToxicityFilter, WordListScorer

    def fp(words):
        return SandboxConfig(experiment=Experiment("t", ToxicityFilter(scorer=WordListScorer(words)), label="t")).fingerprint()

    assert len({fp(["damn"]), fp(["hell", "idiot"]), fp(None)}) == 3  # the scorer's word list is part of it
    spec = f"{HERE / 'user_intervention.py'}:lowercase_everything"
    code = f"from babybias.experiment import SandboxConfig; print(SandboxConfig(experiment={spec!r}, control='none').fingerprint())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # its own hash seed
    assert other.strip() == SandboxConfig(experiment=spec, control="none").fingerprint()


def test_a_factory_that_cannot_be_built_fails_before_anything_trains(corpus_file, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["sandbox", "--experiment", f"{HERE / 'user_intervention.py'}:needs_strength", "--corpus",
                 str(corpus_file), "--output", str(out), "--seeds", "1", "--steps", "2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("babybias: error: experiment 'needs_strength': its intervention cannot be built for seed 0")
    assert "missing 1 required positional argument: 'strength'" in err and not out.exists()


def test_the_old_spellings_still_work_and_warn(tmp_path):
    """``output_dir=``, ``config.output_dir``, ``run(cells_to_run=)`` and ``seed_mean`` from before issue 20."""
    from babybias.experiment.effects import seed_mean
    from babybias.experiment.sandbox import SandboxError

    with pytest.warns(DeprecationWarning, match="out_dir"):
        config = SandboxConfig(output_dir=str(tmp_path / "old"), seeds=1)
    assert config.out_dir == str(tmp_path / "old") and "output_dir" not in config.to_dict()
    with pytest.warns(DeprecationWarning, match="out_dir"):
        assert config.output_dir == config.out_dir
    with pytest.warns(DeprecationWarning, match="cells="), pytest.raises(SandboxError, match="cell index 99"):
        run(config, cells_to_run=[99])  # refused before anything trains
    with pytest.warns(DeprecationWarning, match="mean_interval"):
        assert seed_mean([1.0, 3.0]).estimate == 2.0
    assert not (tmp_path / "old").exists()

"""What a new user hit with ``babybias sandbox`` / ``babybias downstream`` (issue 19): user errors are one line
before anything is trained or written, Ctrl-C and resuming say what happens, every option has help, no
abbreviations. Nothing here trains: every error fires before the first training step."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from babybias.cli import build_parser, main
from babybias.corpus import CorpusError, load_corpus
from babybias.downstream.data import BIOS_PROFESSIONS

REPO = Path(__file__).resolve().parents[2]
LINES = [f"the {w} sat on the mat and then {v} went home to sleep ." for w in ("cat", "dog", "man", "woman", "boy")
         for v in ("he", "she", "they", "it", "we", "you")]


def _one_user_line(err: str) -> str:
    """The single ``babybias: error:`` line of a user error (no traceback, no internal-error hint)."""
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("babybias: error: "), err
    assert "internal error" not in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "small.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


@pytest.fixture(scope="module")
def saved_lm(tmp_path_factory) -> Path:
    from babybias.testing import tiny_masked_lm, tiny_tokenizer

    folder = tmp_path_factory.mktemp("models") / "lm"
    tok = tiny_tokenizer(texts=LINES * 3, vocab_size=200)
    tiny_masked_lm(tok, hidden=16, layers=1).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------ 9, 10, 11: the sandbox's corpus and options


def _refused_corpus(tmp_path, capsys, name: str, text: str) -> tuple:
    """``(corpus file, output folder, the one error line)`` of a sandbox run refused for its corpus."""
    corpus = tmp_path / name
    corpus.write_text(text)
    out = tmp_path / "out"
    assert main(["sandbox", "--corpus", str(corpus), "--output", str(out), "--seeds", "1", "--quiet"]) == 2
    return corpus, out, _one_user_line(capsys.readouterr().err)


def test_sandbox_empty_corpus_is_one_line_naming_the_file_and_writes_nothing(tmp_path, capsys):
    empty, out, line = _refused_corpus(tmp_path, capsys, "empty.txt", "")
    assert f"corpus file {empty} is empty" in line
    assert not out.exists()  # no grid.json, tokenizer or cell folder left behind
    # --list-cells checks --corpus too (an empty file, a missing bare name)
    assert main(["sandbox", "--list-cells", "--corpus", str(empty), "--output", str(out)]) == 2
    assert "is empty" in _one_user_line(capsys.readouterr().err)
    assert main(["sandbox", "--list-cells", "--corpus", str(tmp_path / "nowhere"), "--output", str(out)]) == 2
    assert "nowhere does not exist" in _one_user_line(capsys.readouterr().err)


def test_sandbox_one_line_corpus_is_too_short_before_anything_is_written(tmp_path, capsys):
    one, out, line = _refused_corpus(tmp_path, capsys, "one.txt", "hello world\n")
    assert f"corpus {one} is too short" in line and "needs 63 (sequence length 64)" in line
    assert not out.exists()


def test_sandbox_vocab_size_below_the_minimum_is_a_user_error(tmp_path, capsys):
    assert main(["sandbox", "--vocab-size", "5", "--output", str(tmp_path / "o"), "--steps", "1"]) == 2
    line = _one_user_line(capsys.readouterr().err)
    assert "vocab_size must be at least 64" in line and "got 5" in line
    assert not (tmp_path / "o").exists()


def test_load_corpus_refuses_an_empty_or_blank_file_or_folder(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n\t\n")
    for path in (empty, blank):
        with pytest.raises(CorpusError, match=re.escape(f"corpus file {path} is empty")):
            load_corpus(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("\n")
    with pytest.raises(CorpusError, match=re.escape(f"corpus folder {folder}: its 1 file(s) are empty")):
        load_corpus(folder)


def test_ctrl_c_says_what_is_kept_and_a_rerun_says_it_resumes(small_corpus, tmp_path, capsys, monkeypatch):
    from babybias.experiment import SandboxConfig, cells, sandbox

    out = tmp_path / "out"
    args = ["sandbox", "--corpus", str(small_corpus), "--output", str(out), "--seeds", "1", "--steps", "1",
            "--vocab-size", "100", "--quiet"]

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sandbox, "_cell_body", interrupted)  # Ctrl-C as the first cell starts
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"interrupted: 0 of 3 cells finished, kept in {out}; run the same command again to resume" in err
    # one finished cell on disk (as a finished run leaves it): the re-run says so before it goes on
    config = SandboxConfig(corpus=str(small_corpus), out_dir=str(out), seeds=1, steps=1, vocab_size=100)
    first = cells(config)[0]
    first.path.mkdir(parents=True, exist_ok=True)  # the interrupted run started it (its cell.json)
    (first.path / "cell.json").write_text(json.dumps({"fingerprint": config.fingerprint()}))
    (first.path / "scores.json").write_text("{}")
    assert main(args) == 130
    captured = capsys.readouterr()
    assert f"resuming: 1 of 3 cells already done in {out}" in captured.out
    assert f"interrupted: 1 of 3 cells finished, kept in {out}" in captured.err


# ------------------------------------------------------------------ 9, 10: downstream checks before fine-tuning


def _no_finetune(monkeypatch):
    import babybias.downstream.transfer as transfer

    def fail(*a, **k):
        raise AssertionError("a cell started: the check came too late")

    monkeypatch.setattr(transfer, "run_cell", fail)


def test_downstream_checks_every_upstream_path_before_fine_tuning(saved_lm, tmp_path, capsys, monkeypatch):
    _no_finetune(monkeypatch)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "t"
    base = ["downstream", str(saved_lm), "--task", "toxicity", "--train", "wikipedia-sample", "--interventions",
            "baseline", "--seeds", "2", "--recipe", "tiny", "--out", str(out), "--quiet"]
    assert main(base + ["--upstream-model", "cda=./nowhere"]) == 2
    assert "upstream model 'cda' folder ./nowhere does not exist" in _one_user_line(capsys.readouterr().err)
    # {seed} is filled in for every seed: seed 1's folder is missing
    (tmp_path / "cda-0").symlink_to(saved_lm, target_is_directory=True)
    assert main(base + ["--upstream-model", "cda=./cda-{seed}", "--list-cells"]) == 2
    assert "folder ./cda-1 does not exist" in _one_user_line(capsys.readouterr().err)
    assert not out.exists()


def test_downstream_refuses_a_self_debias_folder(saved_lm, tmp_path, capsys, monkeypatch):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from babybias.debias import SelfDebiasedLM

    _no_finetune(monkeypatch)
    tok = AutoTokenizer.from_pretrained(saved_lm)
    sd = tmp_path / "sd"
    SelfDebiasedLM(AutoModelForMaskedLM.from_pretrained(saved_lm), tok, ["a biased prefix: "]).save_pretrained(sd)
    tok.save_pretrained(sd)
    assert main(["downstream", str(sd), "--task", "toxicity", "--train", "wikipedia-sample", "--out",
                 str(tmp_path / "t"), "--quiet"]) == 2
    line = _one_user_line(capsys.readouterr().err)
    assert f"model {sd} is a Self-Debias model" in line and "cannot be fine-tuned as a classifier trunk" in line
    assert not (tmp_path / "t").exists()


def test_downstream_too_few_test_items_is_a_clear_error_before_anything_is_written(saved_lm, tmp_path, capsys,
                                                                                   monkeypatch):
    _no_finetune(monkeypatch)
    rng = np.random.default_rng(0)
    rows = [{"text": f"{p} bio {i} of a person who works hard .", "profession": p, "gender": g}
            for p in BIOS_PROFESSIONS for i, g in enumerate(["female", "male"] * 2)]
    pd.DataFrame(rows).sample(frac=1.0, random_state=int(rng.integers(100))).to_csv(tmp_path / "bios.csv", index=False)
    out = tmp_path / "t"
    base = ["downstream", str(saved_lm), "--train", str(tmp_path / "bios.csv"), "--interventions", "baseline",
            "--seeds", "1", "--recipe", "tiny", "--out", str(out), "--quiet"]
    assert main(base + ["--max-test", "3"]) == 2
    line = _one_user_line(capsys.readouterr().err)
    assert "the 3 test bios (max_test=3) hold no occupation with bios of both genders" in line
    assert main(base + ["--max-test", "1"]) == 2
    assert "max_test must be >= 2" in _one_user_line(capsys.readouterr().err)
    assert not out.exists()  # the checks ran before grid.json was written


def test_transfer_regression_without_a_finite_gap_says_so():
    from babybias.downstream import transfer_regression

    groups = pd.DataFrame({"signed_gap": [np.nan, np.nan], "upstream_bias": [0.1, 0.2], "cooccurrence": [0.5, 0.4]})
    reg = transfer_regression(groups)
    assert list(reg.predictor) == ["upstream_bias", "cooccurrence"] and (reg.n_rows == 0).all()
    assert (reg.note == "no group with a finite gap").all()


# ------------------------------------------------------------------ 14: help and abbreviations


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_sandbox_and_downstream_help_covers_every_option():
    subs = _subparsers(build_parser())
    for name in ("sandbox", "downstream"):
        missing = [a.option_strings or a.dest for a in subs[name]._actions if not a.help]
        assert not missing, (name, missing)
    help_text = subs["sandbox"].format_help()
    assert "2,000 steps" in " ".join(help_text.split()) and "default sandbox_results" in " ".join(help_text.split())


def test_no_subcommand_accepts_an_abbreviated_option(capsys):
    parser = build_parser()
    assert parser.allow_abbrev is False
    assert all(p.allow_abbrev is False for p in _subparsers(parser).values())
    for argv, short in ((["evaluate", "./m", "--bench", "crows_pairs"], "--bench crows_pairs"),
                        (["debias", "inlp", "./m", "--out", "x", "--iter", "3"], "--iter 3"),
                        (["sandbox", "--list", "--seeds", "1"], "--list"),
                        (["downstream", "./m", "--inter", "baseline"], "--inter baseline"),
                        (["--deb", "benchmarks"], "--deb")):
        assert main(argv) == 2
        assert f"unrecognized arguments: {short} (" in _one_user_line(capsys.readouterr().err), argv


# ------------------------------------------------------------------ 15: docs/cli.md


def test_cli_md_synopsis_lists_every_subcommand_and_the_sandbox_time_is_measured():
    text = (REPO / "docs" / "cli.md").read_text()
    synopsis = text.split("```")[1]
    for name in _subparsers(build_parser()):
        assert re.search(rf"^babybias \[--debug\] {name}\b", synopsis, re.M), name
    assert "under a minute" not in text

"""Issue 19, the ``evaluate`` side: what a new user hit. Each user error is one line
``babybias: error: <message naming the file/option/value>`` with exit status 2, never a traceback
or "(an internal error? ...)", and benchmark data is checked before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babybias.cli import build_parser, device_arg, main
from babybias.evaluate import EWoK, EvaluationResult, evaluate
from babybias.testing import tiny_masked_lm
from tests.conftest import FIXTURES, WEIGHTS, shared_data, word_level_tokenizer

PAIRS = [{"sentence_good": "the cat sleeps .", "sentence_bad": "the cat sleep ."}]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny BERT folder, copies with a truncated / garbage ``model.safetensors``, and a bigger tokenizer."""
    root = tmp_path_factory.mktemp("models")
    tok = word_level_tokenizer()
    model = tiny_masked_lm(tok, hidden=16, layers=1)
    for name in ("bert", "truncated", "garbage", "bigtok_model"):
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
    weights = (root / "truncated" / "model.safetensors").read_bytes()
    (root / "truncated" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    (root / "garbage" / "model.safetensors").write_bytes(b"<html>404 Not Found</html>")
    big = word_level_tokenizer(list(WEIGHTS) + [f"word{i}" for i in range(40)])
    big.save_pretrained(root / "bigtok")
    big.save_pretrained(root / "bigtok_model")  # a model folder holding another, bigger tokenizer
    return root, model, tok


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    assert err[0].startswith("babybias: error: ") and "internal error" not in err[0], err[0]
    return err[0][len("babybias: error: "):]


def _pairs(path: Path, rows=PAIRS) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ------------------------------------------------------------------------- 8: tracebacks


@pytest.mark.parametrize("folder, why", [("truncated", "incomplete metadata"), ("garbage", "header too large")])
def test_corrupt_weights_file_is_one_line_naming_it(folder, why, folders, tmp_path, capsys):
    root, _, _ = folders
    assert main(["evaluate", str(root / folder), "--benchmarks", str(_pairs(tmp_path / "p.jsonl"))]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"weights file {root / folder / 'model.safetensors'} is truncated or not a safetensors file")
    assert why in line


@pytest.mark.parametrize("cuda, count, device, message", [
    (None, 0, "cuda", "argument --device: cuda: this torch build has no CUDA (torch {v})"),
    ("12.4", 0, "cuda", "argument --device: cuda: torch sees no CUDA GPU (torch {v}, CUDA 12.4"),
    ("12.4", 1, "cuda:1", "argument --device: cuda:1: this machine has 1 CUDA GPU(s) (cuda:0 … cuda:0)"),
    (None, 0, "gpu", "argument --device: 'gpu' is not a torch device (cpu, cuda, cuda:N, mps)"),
])
def test_device_without_cuda_fails_while_parsing(cuda, count, device, message, monkeypatch, tmp_path, capsys):
    import torch

    monkeypatch.setattr(torch.version, "cuda", cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.chdir(tmp_path)  # ./no_model does not exist: the --device line must come first
    assert main(["evaluate", "./no_model", "--device", device]) == 2
    assert _error_line(capsys).startswith(message.format(v=torch.__version__))


def test_every_device_option_shares_the_check():
    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    with_device = {name: a for name, p in subs.items() for a in p._actions if a.dest == "device"}
    assert "evaluate" in with_device
    assert all(a.type is device_arg for a in with_device.values()), {n: a.type for n, a in with_device.items()}
    assert device_arg("cpu") == "cpu"


# -------------------------------------------------------- 9: benchmark files before the model


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_pairs_file_fails_before_the_model_loads(text, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("empty.jsonl").write_text(text)
    assert main(["evaluate", "./no_model", "--benchmarks", "empty.jsonl"]) == 2  # the model is not even looked at
    assert _error_line(capsys).startswith("empty.jsonl: no minimal pairs (the file is empty; expected one JSON "
                                          "object per line with 'sentence_good' and 'sentence_bad')")


# ------------------------------------------------------ 10: user errors, not internal errors


@pytest.mark.parametrize("extra, which", [(["--tokenizer", "{root}/bigtok"], "tokenizer {root}/bigtok"),
                                          ([], "its own tokenizer")])
def test_mismatched_tokenizer_is_a_user_error(extra, which, folders, tmp_path, capsys):
    root, _, tok = folders
    model = root / ("bert" if extra else "bigtok_model")
    argv = ["evaluate", str(model), "--benchmarks", str(_pairs(tmp_path / "p.jsonl")), "--quiet"]
    assert main(argv + [e.format(root=root) for e in extra]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"model {model} and {which.format(root=root)} do not fit: tokenizer has {len(tok) + 40} ids")
    assert f"embedding has {len(tok)} rows" in line


def test_debias_checks_the_tokenizer_before_fitting(folders, tmp_path, capsys):
    root, _, tok = folders
    argv = ["debias", "inlp", str(root / "bert"), "--tokenizer", str(root / "bigtok"), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 2
    assert _error_line(capsys).startswith(f"model {root / 'bert'} and tokenizer {root / 'bigtok'} do not fit")


@pytest.mark.parametrize("name, expected", [
    ("ewok", "benchmark 'ewok' is not shipped with babybias (EWoK's terms of use forbid plain-text copies): pass "
             "--source ewok=PATH, PATH the ewok_filtered folder, an EWoK-core-1.0 file, or their zip (a protected "
             "zip also needs --ewok-password PASSWORD)"),
    ("blimp_supplement", "benchmark 'blimp_supplement' is not shipped with babybias (its data has no stated license): "
                         "pass --source blimp_supplement=PATH, PATH the folder of the supplement's .jsonl files"),
    ("perplexity", "benchmark 'perplexity' has no text shipped with babybias (WikiText-2 is CC BY-SA Wikipedia "
                   "text, not shipped): pass --source perplexity=PATH, PATH a .txt/.raw file (or .gz), a folder holding "
                   "wiki.test.raw[.gz], or 'hf:wikitext'"),
])
def test_benchmark_without_data_names_the_cli_option(name, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "./no_model", "--benchmarks", name]) == 2  # before the model is looked at
    assert _error_line(capsys) == expected


def test_source_option_scores_the_users_ewok_zip_as_python_does(folders, tmp_path, capsys):
    root, model, tok = folders
    zipped = str(FIXTURES / "ewok_filtered_protected.zip")
    out = tmp_path / "r.json"
    assert main(["evaluate", str(root / "bert"), "--benchmarks", "ewok", "--source", f"ewok={zipped}",
                 "--ewok-password", "secret", "--output", str(out), "--quiet"]) == 0
    python = evaluate(model, tok, [EWoK(source=zipped, password="secret")], progress=False).scores
    assert EvaluationResult.from_json(out).scores == pytest.approx(python)
    assert python["ewok/overall"] >= 0 and len(python) > 3
    capsys.readouterr()
    assert main(["evaluate", str(root / "bert"), "--benchmarks", "ewok", "--source", f"ewok={zipped}"]) == 2
    assert "cannot read" in _error_line(capsys)  # no password: says so, before the model loads
    assert main(["evaluate", str(root / "bert"), "--benchmarks", "blimp", "--source", f"ewok={zipped}"]) == 2
    assert _error_line(capsys).startswith(f"--source ewok={zipped}: 'ewok' is not in --benchmarks (blimp)")


def test_zip_given_as_a_pairs_file_says_what_to_pass(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("ewok_filtered.zip").write_bytes((FIXTURES / "ewok_filtered_protected.zip").read_bytes())
    assert main(["evaluate", "./no_model", "--benchmarks", "ewok_filtered.zip"]) == 2
    assert _error_line(capsys).endswith("pass the data with --source NAME=PATH: --benchmarks ewok --source "
                                        "ewok=ewok_filtered.zip (add --ewok-password PASSWORD for a protected zip)")


def test_seat_and_perplexity_from_the_command_line(folders, tmp_path, capsys):
    from babybias.evaluate import SEAT, Perplexity

    root, model, tok = folders
    seat, text = shared_data("seat"), str(FIXTURES / "perplexity_small.txt")
    out = tmp_path / "r.json"
    assert main(["evaluate", str(root / "bert"), "--benchmarks", "seat", "perplexity", "--source", f"seat={seat}",
                 "--source", f"perplexity={text}", "--limit", "3", "--output", str(out), "--quiet"]) == 0
    python = evaluate(model, tok, [SEAT(source=str(seat)), Perplexity(source=text)], limit=3, progress=False).scores
    # a word-level vocabulary leaves most SEAT words unknown: identical encodings, no spread, d = NaN as in weat.py
    assert EvaluationResult.from_json(out).scores == pytest.approx(python, nan_ok=True)
    assert "seat/gender/mean_abs_effect_size" in python and python["perplexity/n_items"] == 1
    capsys.readouterr()
    assert main(["evaluate", str(root / "bert"), "--benchmarks", "seat", "--source", f"seat={FIXTURES / 'seat_small'}"]) == 2
    assert "tests missing; SEAT(tests='all')" in _error_line(capsys)  # before the model loads

"""Golden outputs recorded before issue 20's refactor (tests/golden/make_golden.py): the sandbox's and the
bias-transfer grid's collect on fixed cell folders, and every registered benchmark on a tiny saved model.
Each must be reproduced exactly: a change that moves one of these numbers says why and re-records them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from babybias.evaluate import get_benchmark, list_benchmarks

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "evaluate" / "fixtures"
#: items per benchmark (its ``limit``) and the data a benchmark that ships none reads
LIMITS = {"blimp": 2, "blimp_filtered": 2, "blimp_supplement": None, "crows_pairs": 40, "ewok": None,
          "gender_log_odds": 40, "kurita": 40, "stereoset": 40, "stereoset_test": 40, "winobias": 40,
          "winobias_gender_prediction": 40}
SOURCES = {"blimp_supplement": FIXTURES / "blimp_small", "ewok": FIXTURES / "ewok_filtered",
           "seat": FIXTURES / "seat_small", "perplexity": FIXTURES / "perplexity_small.txt"}
#: further options of a benchmark here (issue 22's: SEAT's toy tests are not bias-bench's 17)
OPTIONS = {"seat": {"tests": "all", "n_samples": 1000}, "perplexity": {"block_size": 64}}


def golden_benchmarks():
    """``(name, benchmark, limit)`` for every registered benchmark."""
    return [(name, get_benchmark(name, **({"source": SOURCES[name]} if name in SOURCES else {}), **OPTIONS.get(name, {})),
             LIMITS.get(name)) for name in list_benchmarks()]


def _same_outputs(got: Path, expected: Path) -> None:
    for path in sorted(expected.iterdir()):
        new = got / path.name
        if path.suffix == ".json":
            assert json.loads(new.read_text()) == json.loads(path.read_text()), path.name
        elif path.suffix == ".csv":
            pd.testing.assert_frame_equal(pd.read_csv(new), pd.read_csv(path), check_exact=True, obj=path.name)
        else:
            assert new.read_text() == path.read_text(), path.name


def _copy(name: str, tmp_path: Path) -> Path:
    out = tmp_path / name
    shutil.copytree(HERE / name, out, ignore=shutil.ignore_patterns("expected"))
    return out


def test_sandbox_collect_reproduces_its_golden_outputs(tmp_path):
    from babybias.experiment import collect

    out = _copy("sandbox", tmp_path)
    collect(out, n_resamples=199)
    _same_outputs(out, HERE / "sandbox" / "expected")
    assert (out / "comparison.png").stat().st_size > 0


def test_bias_transfer_collect_reproduces_its_golden_outputs(tmp_path):
    from babybias.downstream import collect

    out = _copy("transfer", tmp_path)
    collect(out)
    _same_outputs(out, HERE / "transfer" / "expected")
    assert (out / "comparison.png").stat().st_size > 0


def test_every_registered_benchmark_reproduces_its_golden_scores():
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from babybias.evaluate import evaluate

    golden = json.loads((HERE / "evaluate.json").read_text())
    assert sorted(golden) == sorted(list_benchmarks()), "a benchmark was registered or removed: re-record its scores"
    folder = HERE / "tiny_model"
    model, tok = AutoModelForMaskedLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    for name, bench, limit in golden_benchmarks():
        scores = json.loads(json.dumps(evaluate(model, tok, [bench], limit=limit, progress=False).scores))
        assert scores == golden[name], name

"""``babybias debias METHOD MODEL --out DIR``, and ``babybias evaluate`` scoring the folder it wrote, debiased."""

from __future__ import annotations

import json

import numpy as np
import pytest

from babybias.cli import main


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import torch

    from babybias.models import GptBertConfig, GptBertForCausalLM, train_tokenizer
    from babybias.testing import shipped_sentences

    folder = tmp_path_factory.mktemp("model") / "m"
    tok = train_tokenizer(shipped_sentences(per_paradigm=4), vocab_size=400, kind="bpe", min_frequency=2)
    torch.manual_seed(0)
    model = GptBertForCausalLM(GptBertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=48))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _score(folder, capsys) -> tuple[float, str]:
    assert main(["evaluate", str(folder), "--benchmarks", "gender_log_odds", "--limit", "5", "--quiet",
                 "--output", str(folder.parent / f"{folder.name}.json")]) == 0
    out = capsys.readouterr().out
    scores = json.loads((folder.parent / f"{folder.name}.json").read_text())["scores"]
    return scores["gender_log_odds/winobias/mean_log_odds"], out


@pytest.mark.parametrize("argv", [["inlp", "--iterations", "3", "--per-class", "60"],
                                  ["inlp", "--per-class", "60", "--stop-at", "0.01"],
                                  ["sent-debias", "--k", "2", "--max-pairs", "200"],
                                  ["self-debias", "--bias-types", "gender", "religion"]])
def test_debias_writes_a_folder_that_evaluate_scores_debiased(argv, saved_model, tmp_path, capsys):
    before, printed = _score(saved_model, capsys)
    assert "debiased model" not in printed
    out = tmp_path / "debiased"
    assert main(["debias", argv[0], str(saved_model), "--out", str(out), "--quiet", *argv[1:]]) == 0
    assert f"written: {out}" in capsys.readouterr().out
    after, printed = _score(out, capsys)
    assert "debiased model:" in printed and np.isfinite(after)
    if "--stop-at" in argv:  # this random model's gender is not linearly decodable: INLP may stop at once
        steps = json.loads((out / "debias.json").read_text())["steps"]
        assert steps[0]["params"]["stop_at"] == 0.01 and steps[0]["fit"]["iterations"] < 80
        return
    assert after != pytest.approx(before, abs=1e-9)
    if argv[0] == "inlp":
        steps = json.loads((out / "debias.json").read_text())["steps"]
        assert steps[0]["method"] == "inlp" and steps[0]["fit"]["iterations"] == 3


def test_debias_refuses_a_used_folder_and_bad_values(saved_model, tmp_path, capsys):
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    assert main(["debias", "inlp", str(saved_model), "--out", str(used)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["debias", "self-debias", str(saved_model), "--out", str(tmp_path / "n"), "--bias-types", "genderr"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("babybias: error: self-debias: bias_types must be among")
    assert "kind:" not in captured.out  # refused before the model loaded
    assert main(["debias", "inlp", str(saved_model), "--out", str(tmp_path / "n"), "--stop-at", "1.5"]) == 2
    assert capsys.readouterr().err.startswith("babybias: error: inlp: stop_at must be None or in [0, 1)")
    assert main(["debias", "nope", str(saved_model), "--out", str(tmp_path / "n")]) == 2
    # a k beyond the model's hidden size: one line naming the option and its range, no "internal error"
    capsys.readouterr()
    assert main(["debias", "sent-debias", str(saved_model), "--out", str(tmp_path / "k"), "--k", "999", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert err.splitlines()[-1] == "babybias: error: sent-debias: k (--k) must be from 1 to the model's hidden size 32, got 999"
    assert not (tmp_path / "k").exists()

"""The notebook-style tutorial (examples/tutorial.py, jupytext percent format) runs end to end at tiny settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "examples" / "tutorial.py"


def test_tutorial_is_a_percent_format_notebook():
    text = TUTORIAL.read_text()
    assert "format_name: percent" in text
    cells = re.findall(r"^# %%( \[markdown\])?$", text, flags=re.M)
    assert len(cells) >= 10 and cells.count(" [markdown]") >= 5


def test_tutorial_runs_at_tiny_settings(tmp_path):
    from babybias.testing import shipped_sentences

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(shipped_sentences(per_paradigm=6)) + "\n")
    env = dict(os.environ, BABYBIAS_TUTORIAL_STEPS="4", BABYBIAS_TUTORIAL_SEEDS="2", BABYBIAS_TUTORIAL_BIAS_LIMIT="10",
               BABYBIAS_TUTORIAL_BLIMP_LIMIT="1", BABYBIAS_TUTORIAL_CORPUS=str(corpus),
               BABYBIAS_TUTORIAL_OUT=str(tmp_path / "out"), HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="",
               MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(TUTORIAL)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    for name in ("results.json", "comparison.png", "training_curves.png", "trajectories.png", "sweep.jsonl"):
        assert (out / name).stat().st_size > 0, name
    assert "PRIMARY cda − baseline" in done.stdout and "PRIMARY cda − duplication" in done.stdout
    assert "random-duplication" in done.stdout  # the control's report
    assert json.loads((out / "results.json").read_text())["primary_metric"] == "gender_log_odds/winobias/mean_log_odds"

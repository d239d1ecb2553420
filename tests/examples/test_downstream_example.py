"""examples/downstream_bias_transfer.py runs both grids end to end at tiny settings and prints tables with intervals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "downstream_bias_transfer.py"


def test_downstream_example_runs_at_tiny_settings(tmp_path):
    bios = shared_data("bias_in_bios", "bios_sample_28_professions.csv.gz")
    env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="", MPLBACKEND="Agg")
    cmd = [sys.executable, str(EXAMPLE), "--bios", str(bios), "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
           "--pretrain-steps", "5", "--seeds", "2", "--interventions", "baseline", "scrub", "--max-steps", "5",
           "--max-test", "300", "--n-resamples", "49",
           "--toxicity-upstream-metric", "gender_log_odds/templates/mean_log_odds"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "means over seeds, 95 % t interval over seeds" in done.stdout
    assert "scrub − baseline on gap_rms" in done.stdout and "scrub − baseline on madlibs/fped" in done.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["tasks"]) == {"bios", "toxicity"}
    for task in ("bios", "toxicity"):
        assert (tmp_path / "out" / task / "comparison.png").stat().st_size > 0

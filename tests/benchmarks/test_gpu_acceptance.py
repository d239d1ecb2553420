"""The GPU acceptance command never rots: its CPU quick mode runs every stage at toy size here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_acceptance_quick_mode_passes_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_acceptance.py"), "--device", "cpu", "--quick",
                           "--out", str(out), "--work", str(tmp_path / "work")], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    stages = results["stages"]
    assert list(stages) == ["env", "correctness", "evaluation", "sandbox", "throughput"]
    assert all(stage["status"] == "ok" for stage in stages.values()), {k: v.get("error") for k, v in stages.items()}
    assert stages["correctness"]["passed"] == len(stages["correctness"]["tests"]) >= 14
    assert [r["compile"] for r in stages["throughput"]["runs"]] == [False, False, True]
    assert all(r["tokens_per_second"] > 0 for r in stages["throughput"]["runs"])
    assert stages["throughput"]["profiles"][0]["rows"]
    assert {c["condition"] for c in stages["sandbox"]["cells"]} == {"baseline", "cda", "duplication"}
    assert stages["evaluation"]["blimp"]["items"] == 67 * 2
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "log.txt", "results.json", "results.md"]
    assert "| correctness | ok |" in (out / "results.md").read_text()


def test_a_failing_stage_is_recorded_and_the_next_one_runs(tmp_path):
    out = tmp_path / "out"  # no CUDA here: the env stage fails on --device cuda, the run goes on and says so
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_acceptance.py"), "--device", "cuda", "--quick",
                           "--out", str(out), "--only", "env,evaluation", "--deadline", "120"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    results = json.loads((out / "results.json").read_text())
    if proc.returncode == 0:  # a machine with CUDA
        assert results["stages"]["env"]["status"] == "ok"
        return
    assert [results["stages"][s]["status"] for s in ("env", "evaluation")] == ["failed", "failed"]  # the second ran too
    assert "no CUDA" in results["stages"]["env"]["error"] and "no CUDA" in results["stages"]["evaluation"]["error"]

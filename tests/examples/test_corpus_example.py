"""examples/corpus_interventions.py: --help and a missing corpus are one clean message, not a traceback (issue 19, item 8)."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "corpus_interventions.py"


@pytest.mark.parametrize("arg,code", [("--help", 0), ("nowhere.txt", 2)])
def test_help_and_a_missing_corpus_exit_with_a_message(tmp_path, monkeypatch, capsys, arg, code):
    # Before: the script read sys.argv[1] as a corpus path, so both raised FileNotFoundError with a traceback.
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), arg if arg.startswith("-") else str(tmp_path / arg)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    out, err = capsys.readouterr()
    assert exit_.value.code == code
    assert "usage:" in out if code == 0 else "nowhere.txt does not exist" in err.strip().splitlines()[-1]

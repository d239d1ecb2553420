"""``train`` flushes denormal floats to zero on the CPU only while it runs: the process-wide flag is switched off
again when training raises, not only when it returns."""

from __future__ import annotations

import pytest
import torch

from babybias.train import get_recipe, loop, train

DENORMAL = 1e-310  # below float64's smallest normal number (2.2e-308)


@pytest.fixture
def flag_calls(monkeypatch):
    """Every ``torch.set_flush_denormal`` call made during the test, in order (the real flag is left alone)."""
    calls: list[bool] = []
    monkeypatch.setattr(torch, "set_flush_denormal", lambda on: calls.append(on) or True)
    return calls


def _expected() -> list[bool]:
    return [] if torch.cuda.is_available() else [True, False]  # only the CPU flushes


def test_a_bad_argument_leaves_the_flag_off(flag_calls, tmp_path):
    with pytest.raises(ValueError, match="data_workers"):
        train(get_recipe("tiny"), None, None, tmp_path / "run", data_workers=-1)
    assert flag_calls == _expected()


def test_an_error_inside_training_leaves_the_flag_off(flag_calls, monkeypatch, tmp_path):
    def fail(*_args):
        assert flag_calls[-1:] == _expected()[:1]  # the flag is on while the body runs
        raise RuntimeError("boom")

    monkeypatch.setattr(loop, "check_vocab", fail)
    with pytest.raises(RuntimeError, match="boom"):
        train(get_recipe("tiny"), None, None, tmp_path / "run")
    assert flag_calls == _expected()
    assert not (tmp_path / "run").exists()


def test_denormals_survive_a_failed_call(tmp_path):
    with pytest.raises(ValueError):
        train(get_recipe("tiny"), None, None, tmp_path / "run", data_workers=-1)
    assert torch.tensor([DENORMAL], dtype=torch.float64).item() == DENORMAL  # flushing would make it 0

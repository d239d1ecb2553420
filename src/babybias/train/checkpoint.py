"""Atomic, verifiable, resumable checkpoints.

A checkpoint is a folder ``step_00000100/`` with the model (``save_pretrained``), the trainer
state (optimizer, step, RNG states, EMA) and, written last, ``checksums.json`` (SHA-256 of every
file). It is written under a temporary name and renamed into place, so a crash leaves either a
whole checkpoint or none; a checkpoint whose files do not match their checksums (truncated,
corrupted) is skipped with a warning and never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKSUMS = "checksums.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: str | os.PathLike, step: int, model, trainer_state: dict[str, Any], keep_last: int) -> Path:
    """Write ``directory/step_XXXXXXXX`` atomically, then delete all but the newest ``keep_last``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:08d}"
    tmp = directory / f".step_{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(trainer_state, tmp / "trainer_state.pt")
    sums = {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
    (tmp / CHECKSUMS).write_text(json.dumps(sums, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(directory)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoint folders, oldest first (by step), whether valid or not."""
    directory = Path(directory)
    if not directory.exists():
        return []
    return sorted((p for p in directory.iterdir() if p.is_dir() and p.name.startswith("step_")), key=lambda p: p.name)


def is_valid(checkpoint: Path) -> bool:
    """All files listed in ``checksums.json`` exist and match."""
    try:
        sums = json.loads((checkpoint / CHECKSUMS).read_text())
        return bool(sums) and all(_sha256(checkpoint / name) == digest for name, digest in sums.items())
    except (OSError, ValueError):
        return False


def latest_valid_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint that passes :func:`is_valid`; invalid ones are reported and skipped."""
    for checkpoint in reversed(list_checkpoints(directory)):
        if is_valid(checkpoint):
            return checkpoint
        warnings.warn(f"skipping checkpoint {checkpoint}: missing or mismatching files (truncated or corrupt)")
    return None


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(checkpoint / "trainer_state.pt", map_location="cpu", weights_only=False)

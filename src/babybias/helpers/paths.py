"""One rule for "is this argument a local path or a Hugging Face hub name?".

A string names a **local path** when it exists, or when it cannot be a hub name because it

- starts with ``/``, ``./``, ``../``, ``~`` or ``.`` (or a Windows drive / backslash),
- has two or more ``/`` (hub names are ``name`` or ``org/name``),
- ends with a file suffix (``.txt``, ``.jsonl``, ``.gz``, ``.json``, ``.csv``, ...), or
- is not shaped like a hub name (letters, digits, ``_ . -``).

Anything else (``gpt2``, ``org/name``) that does not exist here is left to the hub, even when a
folder ``org/`` exists here (``babylm/ltgbert-10m-2024`` with a local ``babylm/`` is still the hub
model): write ``./org/name`` for a local path of that shape. A local path that does not exist
raises :class:`FileNotFoundError` at once instead of a slow hub lookup that fails later.

Benchmark data follow a stricter rule (:func:`is_hub`): only a source written ``hf:<org>/<name>``
is a hub dataset, anything else is a local file or folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

FILE_SUFFIXES = (".txt", ".train", ".dev", ".test", ".md", ".jsonl", ".json", ".gz", ".csv", ".tsv", ".zip",
                 ".bin", ".safetensors", ".pt", ".py", ".arrow", ".parquet")
_HUB_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)?$")


def looks_local(name: str | os.PathLike) -> bool:
    """True when ``name`` must be a local path (see the module docstring for the rule)."""
    if not isinstance(name, str):
        return True  # a Path object is always local
    if Path(name).expanduser().exists():
        return True
    if name.startswith(("/", ".", "~", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return True
    if name.count("/") >= 2 or name.lower().endswith(FILE_SUFFIXES):
        return True
    return not _HUB_NAME.match(name) or ".." in name  # a hub-shaped name goes to the hub, even if org/ exists here


def require_local(name: str | os.PathLike, what: str) -> Path:
    """``name`` as an existing local :class:`Path`, else ``FileNotFoundError("<what> <name> does not exist")``."""
    path = Path(name).expanduser()
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        hint = f" (nearest existing folder: {parent})" if parent not in (None, Path("."), Path("/")) else ""
        raise FileNotFoundError(f"{what} {name} does not exist{hint}")
    return path


def local_or_hub(name: str | os.PathLike, what: str) -> Path | str:
    """An existing local :class:`Path`, or ``name`` unchanged when it is a hub name; raises for a missing local path."""
    if looks_local(name):
        return require_local(name, what)
    return str(name)


def is_hub(source: Any) -> bool:
    """True for a benchmark source on the hub: a string written ``hf:<org>/<name>``."""
    return isinstance(source, str) and source.startswith("hf:")

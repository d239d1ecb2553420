"""One rule for "is this argument a local path or a Hugging Face hub name?".

A string names a **local path** when it exists, or when it cannot be a hub name because it

- starts with ``/``, ``./``, ``../``, ``~`` or ``.`` (or a Windows drive / backslash),
- has two or more ``/`` (hub names are ``name`` or ``org/name``),
- ends with a file suffix (``.txt``, ``.jsonl``, ``.gz``, ``.json``, ``.csv``, ...), or
- has a first component that is an existing local folder (``runs/final`` when ``runs/`` exists).

Anything else (``gpt2``, ``org/name``) is left to the hub. A local path that does not exist
raises :class:`FileNotFoundError` at once instead of a slow hub lookup that fails later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
    if not _HUB_NAME.match(name) or ".." in name:
        return True
    first = name.split("/")[0]
    return "/" in name and Path(first).is_dir()


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

"""Readers for the benchmark files: the copies shipped in the package, a user's own copy, or the hub.

Every reader returns plain row dicts with validated fields. A malformed file raises
:class:`DataFormatError` naming the file, the line and the field, never a silent wrong number.
A ``source`` argument is one of: ``None`` (the copy shipped in the package), a path to the
user's copy, or ``"hf:<org>/<name>"`` for a Hugging Face hub dataset (needs internet).
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Iterator

from ..helpers.deprecation import moved_names

PathLike = str | Path


class DataFormatError(ValueError):
    """A benchmark file does not have the expected format; says where and what."""

    def __init__(self, file: PathLike, message: str, line: int | None = None, field: str | None = None) -> None:
        where = str(file) + (f", line {line}" if line is not None else "") + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {message}")
        self.file, self.line, self.field = str(file), line, field


def data_path(*parts: str) -> Path:
    """Path of a file shipped in ``babybias/evaluate/data``."""
    node = resources.files("babybias.evaluate") / "data"
    for part in parts:
        node = node / part
    return Path(str(node))


def resolve_source(source: PathLike) -> Path:
    """A benchmark ``source`` as an existing local path; a missing one raises at once (only ``hf:`` goes to the hub)."""
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"benchmark file or folder {source} does not exist (hub datasets are written 'hf:<org>/<name>')")
    return path


def read_text(path: Path) -> str:
    """Read a UTF-8 file, transparently gunzipping ``*.gz``; a decoding error names the file."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def iter_jsonl(path: Path, text: str | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON Lines file."""
    text = read_text(path) if text is None else text
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, f"invalid JSON ({err.msg})", line=lineno) from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, f"expected a JSON object, got {type(obj).__name__}", line=lineno)
        yield lineno, obj


def require_text(row: dict, field: str, path: PathLike, line: int | None) -> str:
    """``row[field]`` as a non-empty string, else a DataFormatError naming file, line and field."""
    if field not in row:
        raise DataFormatError(path, "missing field", line=line, field=field)
    value = row[field]
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(path, f"expected non-empty text, got {value!r}", line=line, field=field)
    return value


# ------------------------------------------------------------------------------------------- hub


def hub_dataset(name: str, config: str | None = None, split: str = "train"):
    """Load a hub dataset (needs internet and the ``datasets`` hub access)."""
    import datasets

    return datasets.load_dataset(name, config, split=split)


def label_names(ds, column: str):
    feature = ds.features[column]
    names = getattr(feature, "names", None)
    return (lambda v: names[v]) if names else (lambda v: v)


_resolve = resolve_source  # the name before it was public

#: every benchmark's loader now sits beside its benchmark; the old imports still work, with a warning
__getattr__ = moved_names(__name__, {
    "is_hub": "babybias.helpers.paths",
    "load_crows_pairs": "babybias.evaluate.crows_pairs",
    "STEREOSET_DOMAINS": "babybias.evaluate.stereoset",
    "STEREOSET_LABELS": "babybias.evaluate.stereoset",
    "load_stereoset": "babybias.evaluate.stereoset",
    "stereoset_items": "babybias.evaluate.stereoset",
    "load_stereoset_predictions": "babybias.evaluate.stereoset",
    "BLIMP_FIELDS": "babybias.evaluate.minimal_pairs",
    "EWOK_FIELDS": "babybias.evaluate.minimal_pairs",
    "blimp_paradigms": "babybias.evaluate.minimal_pairs",
    "babylm_filtered_ids": "babybias.evaluate.minimal_pairs",
    "load_blimp": "babybias.evaluate.minimal_pairs",
    "pairs_file_stem": "babybias.evaluate.minimal_pairs",
    "load_minimal_pairs": "babybias.evaluate.minimal_pairs",
    "load_ewok": "babybias.evaluate.minimal_pairs",
    "WINOBIAS_PRONOUNS": "babybias.evaluate.winobias",
    "load_winobias": "babybias.evaluate.winobias",
    "winobias_counterfactuals": "babybias.evaluate.winobias",
})

"""Data of the downstream tasks, as pandas DataFrames with fixed columns.

* Bias in Bios (De-Arteaga et al. 2019): ``text, label, profession, gender`` (+ ``name`` when the
  source has one), 28 occupations. From the hub copy ``LabHC/bias_in_bios`` or a user's file. The
  bios are real people's: babybias ships none.
* Toxicity with identity terms: training data ``text, label`` (1 = toxic) from a user's file or the
  hub (``google/civil_comments``: toxic when its ``toxicity`` ≥ 0.5; Jigsaw's ``train.csv``:
  ``comment_text`` with ``target`` ≥ 0.5 or ``toxic``; Wikipedia Talk: ``comment`` + ``toxic``).
  Evaluation on the shipped sets of Dixon et al. 2018 (CC BY 4.0, see ``data/ATTRIBUTION.md``):
  ``bias_madlibs_77k`` (templated sentences, 50 identity terms) and the 1,492 labelled Wikipedia
  comments of the same paper (``toxicity_nonfuzzed_testset``; the ``fuzzed`` copy swaps identity terms).
"""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BIOS_PROFESSIONS = (
    "accountant", "architect", "attorney", "chiropractor", "comedian", "composer", "dentist", "dietitian", "dj",
    "filmmaker", "interior_designer", "journalist", "model", "nurse", "painter", "paralegal", "pastor",
    "personal_trainer", "photographer", "physician", "poet", "professor", "psychologist", "rapper",
    "software_engineer", "surgeon", "teacher", "yoga_teacher",
)
"""The 28 occupations, in the order of ``LabHC/bias_in_bios``'s integer ``profession`` labels."""

BIOS_HUB = "LabHC/bias_in_bios"
TOXICITY_HUB = "google/civil_comments"
TEXT_COLUMNS = ("text", "hard_text", "bio", "comment_text", "comment")
TOXIC_COLUMNS = ("label", "toxic", "toxicity", "target", "is_toxic")

__all__ = ["BIOS_PROFESSIONS", "DataError", "read_table", "load_bios", "load_toxicity", "madlibs_77k",
           "wikipedia_toxicity_test", "identity_terms", "split_frame", "share_female"]


class DataError(ValueError):
    """The data is not usable as given; the message names the file, column or value."""


def _data_file(name: str):
    return resources.files("babybias.downstream") / "data" / name


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV / TSV / JSON lines / JSON / Parquet file (optionally gzipped) as a DataFrame."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    name = path.name.lower().removesuffix(".gz")
    try:
        if name.endswith(".csv"):
            return pd.read_csv(path)
        if name.endswith(".tsv"):
            return pd.read_csv(path, sep="\t")
        if name.endswith(".jsonl"):
            return pd.read_json(path, lines=True)
        if name.endswith(".json"):
            return pd.read_json(path)
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{path}: cannot read it ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    raise DataError(f"{path}: unknown format (use .csv, .tsv, .jsonl, .json or .parquet, optionally .gz)")


def _frame(source: Any, hub_id: str, split: str, where: str) -> tuple[pd.DataFrame, str]:
    """``(frame, origin)`` from a DataFrame, a ``datasets.Dataset``, a file path or a hub id."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), f"{where} DataFrame"
    try:
        import datasets
        if isinstance(source, datasets.Dataset):
            return source.to_pandas(), f"{where} Dataset"
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    source = hub_id if source is None else str(source)
    if Path(source).exists() or any(source.lower().removesuffix(".gz").endswith(e)
                                    for e in (".csv", ".tsv", ".jsonl", ".json", ".parquet")):
        return read_table(source), source
    import datasets
    try:
        ds = datasets.load_dataset(source, split=split)
    except Exception as e:  # the hub is unreachable or the name is wrong: one clear line
        raise DataError(f"cannot load {source!r} (split {split!r}) from the hub: {type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}; pass a local file instead") from None
    frame = ds.to_pandas()
    for column, feature in ds.features.items():  # ClassLabel ints → their names
        names = getattr(feature, "names", None)
        if names and column in frame:
            frame[column] = [names[i] for i in frame[column]]
    return frame, f"{source}[{split}]"


def _pick(frame: pd.DataFrame, candidates: tuple[str, ...], what: str, origin: str, given: str | None) -> str:
    if given is not None:
        if given not in frame.columns:
            raise DataError(f"{origin}: no column {given!r} (columns: {list(frame.columns)})")
        return given
    for c in candidates:
        if c in frame.columns:
            return c
    raise DataError(f"{origin}: no {what} column (looked for {', '.join(candidates)}; columns: {list(frame.columns)})")


def _texts(frame: pd.DataFrame, column: str, origin: str) -> list[str]:
    values = frame[column].tolist()
    for i, t in enumerate(values):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"{origin}: row {i}: column {column!r} holds {t!r}, not text")
    return values


def load_bios(source: Any = None, split: str = "train", *, text_column: str | None = None,
              max_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Bias in Bios as ``text, label, profession, gender`` (+ ``name``).

    ``source``: None (the hub's ``LabHC/bias_in_bios``, ``split`` train/dev/test), a file, a DataFrame
    or a ``datasets.Dataset``, with a text column (``hard_text`` — the bio without its title sentence —
    ``text`` or ``bio``), ``profession`` (a name or LabHC's integer) and ``gender`` (``male``/``female``
    in any case, or LabHC's 0 = male, 1 = female). ``max_rows`` keeps a seeded random subset.
    """
    frame, origin = _frame(source, BIOS_HUB, split, "bios")
    text = _pick(frame, ("hard_text", "text", "bio"), "text", origin, text_column)
    for needed in ("profession", "gender"):
        if needed not in frame.columns:
            raise DataError(f"{origin}: no {needed!r} column (columns: {list(frame.columns)})")
    prof = frame["profession"].map(lambda p: BIOS_PROFESSIONS[int(p)] if isinstance(p, (int, np.integer))
                                   and 0 <= int(p) < len(BIOS_PROFESSIONS) else str(p).strip().lower().replace(" ", "_"))
    bad = sorted(set(prof) - set(BIOS_PROFESSIONS))
    if bad:
        raise DataError(f"{origin}: column 'profession' has values outside the 28 Bias in Bios occupations: {bad[:5]}")
    gmap = {"male": "male", "m": "male", "0": "male", "female": "female", "f": "female", "1": "female"}
    gender = frame["gender"].map(lambda g: gmap.get(str(g).strip().lower()))
    if gender.isna().any():
        row = int(gender.isna().to_numpy().argmax())
        raise DataError(f"{origin}: row {row}: column 'gender' holds {frame['gender'].iloc[row]!r} "
                        "(use male/female or 0 = male, 1 = female)")
    out = pd.DataFrame({"text": _texts(frame, text, origin), "label": prof.map(BIOS_PROFESSIONS.index).astype(int),
                        "profession": prof, "gender": gender})
    if "name" in frame.columns:
        out["name"] = frame["name"].tolist()
    if max_rows is not None and len(out) > max_rows:
        out = out.sample(max_rows, random_state=seed)
    return out.reset_index(drop=True)


def _toxic_labels(values: pd.Series, column: str, origin: str) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy().astype(int)
    if values.dtype == object:
        mapping = {"true": 1, "false": 0, "bad": 1, "not_bad": 0, "toxic": 1, "nontoxic": 0, "non-toxic": 0,
                   "1": 1, "0": 0}
        mapped = values.map(lambda v: mapping.get(str(v).strip().lower()))
        if mapped.isna().any():
            row = int(mapped.isna().to_numpy().argmax())
            raise DataError(f"{origin}: row {row}: column {column!r} holds {values.iloc[row]!r}, not a toxicity label")
        return mapped.to_numpy().astype(int)
    x = values.to_numpy(dtype=float)
    if not np.isfinite(x).all() or (x < 0).any() or (x > 1).any():
        raise DataError(f"{origin}: column {column!r} must hold 0/1, booleans or a toxicity fraction in [0, 1]")
    return (x >= 0.5).astype(int)  # Jigsaw / civil_comments: the share of raters who said toxic


def load_toxicity(source: Any = None, split: str = "train", *, text_column: str | None = None,
                  label_column: str | None = None, max_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Toxicity data as ``text, label`` (1 = toxic): None (the hub's ``google/civil_comments``), a file,
    a DataFrame or a ``datasets.Dataset``; a fractional label (civil_comments ``toxicity``, Jigsaw
    ``target``) is toxic at ≥ 0.5. ``max_rows`` keeps a seeded random subset."""
    frame, origin = _frame(source, TOXICITY_HUB, split, "toxicity")
    text = _pick(frame, TEXT_COLUMNS, "text", origin, text_column)
    label = _pick(frame, TOXIC_COLUMNS, "label", origin, label_column)
    out = pd.DataFrame({"text": _texts(frame, text, origin), "label": _toxic_labels(frame[label], label, origin)})
    if max_rows is not None and len(out) > max_rows:
        out = out.sample(max_rows, random_state=seed)
    return out.reset_index(drop=True)


def madlibs_77k() -> pd.DataFrame:
    """Dixon et al.'s 76,564 templated sentences: ``text, label`` (1 = BAD), ``template`` (shipped, CC BY 4.0)."""
    with _data_file("bias_madlibs_77k.csv.gz").open("rb") as f, gzip.open(f) as g:
        raw = pd.read_csv(g)
    return pd.DataFrame({"text": raw.Text, "label": (raw.Label == "BAD").astype(int), "template": raw.Template})


def wikipedia_toxicity_test(fuzzed: bool = False) -> pd.DataFrame:
    """The 1,492 labelled Wikipedia Talk comments of Dixon et al. (``rev_id, text, label``); ``fuzzed``:
    the copy with identity terms swapped for others (shipped, CC BY 4.0)."""
    name = "toxicity_fuzzed_testset.csv.gz" if fuzzed else "toxicity_nonfuzzed_testset.csv.gz"
    with _data_file(name).open("rb") as f, gzip.open(f) as g:
        raw = pd.read_csv(g)
    return pd.DataFrame({"rev_id": raw.rev_id, "text": raw.comment, "label": raw.toxic.astype(int)})


def identity_terms() -> list[str]:
    """The 50 identity terms of ``bias_madlibs_77k`` (Dixon et al.'s ``adjectives_people.txt``)."""
    text = _data_file("identity_terms.txt").read_text(encoding="utf-8")
    return [t.strip() for t in text.splitlines() if t.strip()]


def split_frame(frame: pd.DataFrame, test_size: float | int, seed: int = 0,
                stratify: str | None = "label") -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded train/test split (stratified on ``stratify`` where every class has ≥ 2 rows)."""
    from sklearn.model_selection import train_test_split

    strat = None
    if stratify is not None and frame[stratify].value_counts().min() >= 2:
        strat = frame[stratify]
    try:
        a, b = train_test_split(frame, test_size=test_size, random_state=seed, stratify=strat)
    except ValueError:  # a test set smaller than the number of classes: fall back to a plain split
        a, b = train_test_split(frame, test_size=test_size, random_state=seed)
    return a.reset_index(drop=True), b.reset_index(drop=True)


def share_female(bios: pd.DataFrame) -> dict[str, float]:
    """Occupation → share of women among its bios (the gender–occupation co-occurrence of the data)."""
    counts = bios.groupby("profession")["gender"].apply(lambda g: float((g == "female").mean()))
    return {str(k): float(v) for k, v in counts.items()}

"""Minimal-pair ability benchmarks: BLiMP (full or BabyLM-filtered), the BabyLM BLiMP supplement, EWoK.

A pair is correct when the acceptable item scores at least as high as the unacceptable one (a
tie counts as correct, as lm-evaluation-harness's argmax and the BabyLM 2025 pipeline's
``torch.max`` pick the first choice); ``tie="half"`` counts a tie as half a correct pair instead.
Every benchmark reports ``ties`` (percent of tied pairs) and warns when it exceeds 1 %, because a
model that gives every pair identical scores gets 100 % under ``tie="correct"``. How a sentence
is scored is a named variant, because the choice alone moves the number:

====================  =========================================  =====================  ==========
variant               masked LM                                  causal LM              used by
====================  =========================================  =====================  ==========
``babylm2024``        **mean** token PLL (minicons default)       **sum** log-lik        BabyLM 2024 pipeline (lm-eval fork + minicons)
``babylm2025``        **sum** token PLL                           **sum** log-lik        BabyLM 2025 pipeline (``sentence_zero_shot``)
====================  =========================================  =====================  ==========

Both pipelines use the "original" PLL (each token masked alone), the scorer's default;
``pll="within_word_l2r"`` (Kauf & Ivanova 2023) on the benchmark or on ``evaluate`` switches it.
Causal LMs: ``babylm2024`` scores every token after the BOS/EOS prefix (lm-evaluation-harness);
``babylm2025`` prefixes the tokenizer's BOS only when it has one, and otherwise feeds the text
as is and leaves its first token unscored (``process_causal_sentences``).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
import warnings
from typing import Iterable, Iterator, Literal, Sequence

import numpy as np
import pandas as pd

from ..helpers.paths import is_hub
from .loaders import DataFormatError, PathLike, data_path, hub_dataset, iter_jsonl, read_text, require_text, resolve_source
from .registry import Benchmark, MissingDataError, macro_values, register
from .results import BenchmarkResult
from .scoring import PLL_METHODS, LMScorer, PLLMethod, reduce_log_probs


# ----------------------------------------------------------------------------------------- data

BLIMP_FIELDS = {"syntax/semantics": "syntax_semantics"}  # one BLiMP file spells its field with a slash


EWOK_FIELDS = ("Domain", "Context1", "Context2", "Target1", "Target2")



def blimp_paradigms() -> list[str]:
    """The 67 BLiMP paradigm names (UIDs)."""
    return sorted(p.name.removesuffix(".jsonl.gz") for p in data_path("blimp").glob("*.jsonl.gz"))



def babylm_filtered_ids() -> dict[str, set[str]]:
    """Per paradigm, the pairIDs kept by the BabyLM vocabulary filter (shipped id list)."""
    return {uid: set(ids) for uid, ids in _filtered_ids().items()}



@lru_cache(maxsize=1)
def _filtered_ids() -> dict[str, frozenset[str]]:
    raw = json.loads(data_path("blimp", "babylm_filtered_pair_ids.json").read_text())
    return {uid: frozenset(ids) for uid, ids in raw.items()}



def _blimp_file(path: Path) -> tuple[dict, ...]:
    """The rows of one BLiMP paradigm file, parsed once per process for each version of the file (its
    path, size and modification time): a sandbox evaluates BLiMP once per cell."""
    stat = path.stat()
    return _parsed_blimp_file(str(path), stat.st_size, stat.st_mtime_ns)



@lru_cache(maxsize=512)
def _parsed_blimp_file(path: str, size: int, mtime_ns: int) -> tuple[dict, ...]:
    return tuple(_blimp_row(rec, Path(path), line) for line, rec in iter_jsonl(Path(path)))



def load_blimp(source: PathLike | None = None, subset: str = "full", paradigms: Iterable[str] | None = None) -> list[dict]:
    """BLiMP pairs: ``UID, pair_id, sentence_good, sentence_bad, field, phenomenon``.

    ``subset="babylm_filtered"`` keeps the BabyLM-filtered pairs (by pairID). ``source`` may be a
    directory of ``<UID>.jsonl[.gz]`` files (the upstream ``data/`` folder) or ``"hf:nyu-mll/blimp"``.
    """
    if subset not in ("full", "babylm_filtered"):
        raise ValueError(f"BLiMP subset must be 'full' or 'babylm_filtered', got {subset!r}")
    wanted = sorted(paradigms) if paradigms is not None else None
    if is_hub(source):
        rows = _blimp_from_hub(source[3:], wanted or blimp_paradigms())
    else:
        folder = data_path("blimp") if source is None else resolve_source(source)
        files = _minimal_pair_files(folder)
        if wanted is not None:
            missing = sorted(set(wanted) - set(files))
            if missing:
                raise FileNotFoundError(f"{folder}: no file for paradigm(s) {missing}")
            files = {k: files[k] for k in wanted}
        rows = [dict(row) for path in files.values() for row in _blimp_file(Path(path))]  # copies: callers may edit
    if subset == "babylm_filtered":
        keep = _filtered_ids()
        rows = [r for r in rows if r["pair_id"] in keep.get(r["UID"], ())]
    return rows



def _blimp_row(rec: dict, path: PathLike, line: int | None) -> dict:
    good = require_text(rec, "sentence_good", path, line)
    bad = require_text(rec, "sentence_bad", path, line)
    uid = require_text(rec, "UID", path, line)
    pid = rec.get("pairID", rec.get("pair_id"))
    if pid is None:
        raise DataFormatError(path, "missing field", line=line, field="pairID")
    field = require_text(rec, "field", path, line)
    return {
        "UID": uid,
        "pair_id": str(pid),
        "sentence_good": good,
        "sentence_bad": bad,
        "field": BLIMP_FIELDS.get(field, field),
        "phenomenon": require_text(rec, "linguistics_term", path, line),
    }



def _blimp_from_hub(name: str, paradigms: list[str]) -> list[dict]:
    rows = []
    for uid in paradigms:
        for rec in hub_dataset(name, config=uid, split="train"):
            rows.append(_blimp_row(rec, f"hf:{name}/{uid}", None))
    return rows



def pairs_file_stem(path: PathLike) -> str:
    """A minimal-pairs file's task name: its file name without ``.jsonl.gz`` / ``.jsonl`` (``a.v1.jsonl`` → ``a.v1``)."""
    name = Path(path).name
    for suffix in (".jsonl.gz", ".jsonl"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name.split(".")[0]



def _minimal_pair_files(folder: Path) -> dict[str, Path]:
    if folder.is_file():
        return {pairs_file_stem(folder): folder}
    files = {pairs_file_stem(p): p for p in sorted(folder.iterdir()) if p.name.endswith((".jsonl", ".jsonl.gz"))}
    if not files:
        raise FileNotFoundError(f"{folder}: no *.jsonl or *.jsonl.gz files")
    return files



def load_minimal_pairs(source: PathLike, good: str = "sentence_good", bad: str = "sentence_bad") -> list[dict]:
    """Generic minimal pairs from a ``.jsonl`` file or a folder of them (e.g. the BLiMP supplement).

    Rows: ``task`` (file stem), ``index`` (line number), ``sentence_good``, ``sentence_bad``.
    """
    rows = []
    for task, path in _minimal_pair_files(resolve_source(source)).items():
        before = len(rows)
        for line, rec in iter_jsonl(path):
            rows.append({"task": task, "index": line, "sentence_good": require_text(rec, good, path, line),
                         "sentence_bad": require_text(rec, bad, path, line)})
        if len(rows) == before:
            raise DataFormatError(path, f"no minimal pairs (the file is empty; expected one JSON object per line "
                                        f"with {good!r} and {bad!r})")
    return rows



def load_ewok(source: PathLike, password: str | bytes | None = None, both_ways: bool | None = None) -> list[dict]:
    """EWoK items as scored by BabyLM: ``domain, index, context, target_good, target_bad``.

    ``source``: a folder of ``<domain>.jsonl`` (BabyLM ``ewok_filtered``), one ``.jsonl``/``.csv``
    file (an EWoK-core-1.0 export), a zip holding either (``password`` for the protected zips
    the EWoK terms of use require), or ``"hf:ewok-core/ewok-core-1.0"``. BabyLM's filtered files
    already list each item both ways (the second copy with Context/Target 1↔2 swapped); core
    items are listed once and are expanded here so each is scored both ways. ``both_ways=None``
    detects which by checking that every odd line is its predecessor swapped.
    """
    if is_hub(source):
        records = [(f"hf:{source[3:]}", None, dict(r)) for r in hub_dataset(source[3:], split="test")]
    else:
        records = list(_ewok_records(resolve_source(source), password))
    if not records:
        raise DataFormatError(source, "no EWoK items found")
    items = []
    for path, line, rec in records:
        for field in EWOK_FIELDS:
            require_text(rec, field, path, line)
        items.append((path, line, rec))
    already = _is_doubled([r for _, _, r in items]) if both_ways is None else both_ways
    rows = []
    for path, line, rec in items:
        rows.append({"domain": rec["Domain"], "file": str(path), "line": line, "context": rec["Context1"],
                     "target_good": rec["Target1"], "target_bad": rec["Target2"]})
        if not already:
            rows.append({"domain": rec["Domain"], "file": str(path), "line": line, "context": rec["Context2"],
                         "target_good": rec["Target2"], "target_bad": rec["Target1"]})
    return rows



def _is_doubled(recs: list[dict]) -> bool:
    if len(recs) % 2:
        return False
    for a, b in zip(recs[::2], recs[1::2]):
        if (a["Context1"], a["Context2"], a["Target1"], a["Target2"]) != (b["Context2"], b["Context1"], b["Target2"], b["Target1"]):
            return False
    return True



def _ewok_records(path: Path, password: str | bytes | None) -> Iterator[tuple[str, int | None, dict]]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".jsonl", ".csv"))
        if not files:
            raise FileNotFoundError(f"{path}: no *.jsonl or *.csv EWoK files")
        for f in files:
            yield from _ewok_parse(str(f), read_text(f), f.suffix)
    elif zipfile.is_zipfile(path):
        pwd = password.encode() if isinstance(password, str) else password
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.endswith((".jsonl", ".csv")) and not n.startswith("__MACOSX"))
            if not names:
                raise FileNotFoundError(f"{path}: the zip holds no *.jsonl or *.csv EWoK files")
            for name in names:
                try:
                    raw = zf.open(name, pwd=pwd).read()
                except RuntimeError as err:  # zipfile's "password required" / "Bad password"
                    raise PermissionError(f"{path}: cannot read {name}: {err}; pass the zip's password "
                                          "(password= in Python, --ewok-password on the command line)") from None
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataFormatError(f"{path}:{name}", "not UTF-8 text") from None
                yield from _ewok_parse(f"{path}:{name}", text, Path(name).suffix)
    else:
        yield from _ewok_parse(str(path), read_text(path), path.suffix)



def _ewok_parse(name: str, text: str, suffix: str) -> Iterator[tuple[str, int | None, dict]]:
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for rec in reader:
            yield name, reader.line_num, rec
    else:
        for line, rec in iter_jsonl(Path(name), text):
            yield name, line, rec


Variant = Literal["babylm2024", "babylm2025"]
TieRule = Literal["correct", "half"]
TIE_RULES: tuple[str, ...] = ("correct", "half")
TIE_WARN_PERCENT = 1.0
REDUCTIONS: dict[str, dict[str, str]] = {
    "babylm2024": {"mlm": "mean", "clm": "sum"},
    "babylm2025": {"mlm": "sum", "clm": "sum"},
}


def reduction_for(variant: str, kind: str) -> str:
    check_options(variant)
    return REDUCTIONS[variant][kind]


def check_options(variant: str, tie: str = "correct", pll: str | None = None) -> None:
    """One-line ValueErrors for a bad ``variant``, ``tie`` or ``pll`` field."""
    if variant not in REDUCTIONS:
        raise ValueError(f"variant must be one of {sorted(REDUCTIONS)}, got {variant!r}")
    if tie not in TIE_RULES:
        raise ValueError(f"tie must be one of {TIE_RULES}, got {tie!r}")
    if pll is not None and pll not in PLL_METHODS:
        raise ValueError(f"pll must be one of {PLL_METHODS} or None, got {pll!r}")


def causal_bos(variant: str, scorer: LMScorer) -> Literal["prefix", "none"]:
    """``"none"`` for ``babylm2025`` with a tokenizer without BOS (first token unscored), else ``"prefix"``."""
    if scorer.kind == "clm" and variant == "babylm2025" and scorer.tokenizer.bos_token_id is None:
        return "none"
    return "prefix"


def score_pairs(
    scorer: LMScorer,
    contexts: Sequence[str],
    good: Sequence[str],
    bad: Sequence[str],
    variant: str,
    pll: PLLMethod | None = None,
    desc: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of ``good`` and ``bad`` continuations of ``contexts`` ("" = whole sentences).

    ``pll=None`` uses the scorer's own PLL method (``"original"`` unless it was built otherwise).
    """
    reduction = reduction_for(variant, scorer.kind)
    n = len(good)
    lps = scorer.continuation_log_probs(list(contexts) * 2, list(good) + list(bad), pll=pll, desc=desc,
                                        bos=causal_bos(variant, scorer))
    scores = reduce_log_probs(lps, reduction)
    return scores[:n], scores[n:]


def limit_per_group(rows: list[dict], key: str, limit: int | None) -> list[dict]:
    """The first ``limit`` rows of each ``key`` group (all rows when ``limit`` is None)."""
    if limit is None:
        return rows
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        if seen.get(r[key], 0) < limit:
            seen[r[key]] = seen.get(r[key], 0) + 1
            out.append(r)
    return out


def group_accuracy(frame: pd.DataFrame, by: str, prefix: str) -> dict[str, float]:
    """Percent correct per value of ``by`` (keys ``"<prefix>/<value>"``)."""
    acc = frame.groupby(by, sort=True)["correct"].mean() * 100.0
    return {f"{prefix}/{k}": float(v) for k, v in acc.items()}


def _pair_frame(rows: list[dict], good: np.ndarray, bad: np.ndarray, tie: str = "correct") -> pd.DataFrame:
    """Per-pair rows with ``tie`` (scores equal) and ``correct`` (bool, or 1/0.5/0 with ``tie="half"``)."""
    frame = pd.DataFrame.from_records(rows)
    frame["score_good"] = good
    frame["score_bad"] = bad
    frame["tie"] = good == bad
    frame["correct"] = good >= bad if tie == "correct" else (good > bad) + 0.5 * (good == bad)
    return frame


def tie_percent(frame: pd.DataFrame) -> float:
    """Percent of tied pairs (identical scores)."""
    return float(frame["tie"].mean() * 100.0) if len(frame) else 0.0


def warn_ties(frame: pd.DataFrame, name: str, tie: str, stacklevel: int = 4) -> None:
    """Warn when more than :data:`TIE_WARN_PERCENT` of the pairs are ties (each then counts by ``tie``)."""
    pct = tie_percent(frame)
    if pct > TIE_WARN_PERCENT:
        warnings.warn(f"{name}: {pct:.2f}% of pairs are ties (identical scores), each counted as "
                      f"{'correct' if tie == 'correct' else 'half correct'} (tie={tie!r}); see scores['ties']",
                      stacklevel=stacklevel)


def grouped_accuracy(rows: pd.DataFrame, group: str) -> dict[str, float]:
    """``overall`` = macro mean over ``group``, ``micro``, ``ties`` and ``<group>/<value>`` (percent)."""
    per_group = group_accuracy(rows, group, group)
    scores = {"overall": float(np.mean(list(per_group.values()))), "micro": float(rows["correct"].mean() * 100.0),
              "ties": tie_percent(rows)}
    return scores | per_group


def pair_item_values(rows: pd.DataFrame, key: str, group: str) -> np.ndarray | None:
    """Minimal pairs: ``micro`` = 100 × correct per pair; ``overall`` = the same reweighted so that its mean is the
    macro mean over ``group`` (None without that column); ``ties`` = 100 × tie."""
    if key == "micro":
        return 100.0 * rows["correct"].to_numpy(dtype=float)
    if key == "ties":
        return 100.0 * rows["tie"].to_numpy(dtype=float)
    if key == "overall" and group in rows.columns:
        return macro_values(100.0 * rows["correct"].to_numpy(dtype=float), rows[group].reset_index(drop=True))
    return None


@dataclass(kw_only=True)
class PairScoring(Benchmark):
    """The options every minimal-pair benchmark shares (keyword-only): how a sentence is scored (``variant``, ``pll``)
    and how a tie counts (``tie``); checked at construction."""

    variant: Variant = "babylm2024"
    pll: PLLMethod | None = None
    tie: TieRule = "correct"

    def __post_init__(self) -> None:
        check_options(self.variant, self.tie, self.pll)

    def pair_frame(self, scorer: LMScorer, rows: list[dict], good: str = "sentence_good", bad: str = "sentence_bad",
                   context: str | None = None) -> pd.DataFrame:
        """Score the ``good`` and ``bad`` field of each row (after its ``context`` field, if any): the per-pair
        rows with ``score_good``, ``score_bad``, ``tie`` and ``correct``; warns when ties are many."""
        contexts = [r[context] for r in rows] if context else [""] * len(rows)
        g, b = score_pairs(scorer, contexts, [r[good] for r in rows], [r[bad] for r in rows], self.variant, self.pll,
                           desc=self.name)
        frame = _pair_frame(rows, g, b, self.tie)
        warn_ties(frame, self.name, self.tie)
        return frame


@dataclass
class BLiMP(PairScoring):
    """BLiMP (Warstadt et al. 2020): 67 paradigms x 1,000 pairs, or the BabyLM-filtered 59,875.

    Scores (percent): ``overall`` = macro mean over paradigms; ``paradigm/<UID>``;
    ``phenomenon/<linguistics_term>`` and ``field/<field>`` = macro mean of their paradigms.
    ``limit`` caps pairs per paradigm.
    """

    name: str = "blimp"
    subset: Literal["full", "babylm_filtered"] = "full"
    source: PathLike | None = None

    def __post_init__(self) -> None:
        if self.subset not in ("full", "babylm_filtered"):
            raise ValueError(f"BLiMP subset must be 'full' or 'babylm_filtered', got {self.subset!r}")
        super().__post_init__()

    def check_data(self) -> None:
        if self.source is not None and not is_hub(self.source):  # the shipped copy is known good; a hub copy downloads later
            load_blimp(self.source, subset=self.subset)

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        frame = self.pair_frame(scorer, limit_per_group(load_blimp(self.source, subset=self.subset), "UID", limit))
        return self.result(frame, n_pairs=len(frame))

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """``overall`` = macro mean over paradigms, ``micro``, ``ties``; ``phenomenon/``, ``field/`` = macro means of
        their paradigms; ``paradigm/<UID>`` (percent)."""
        per_paradigm = rows.groupby("UID")["correct"].mean() * 100.0
        meta = rows.drop_duplicates("UID").set_index("UID")[["phenomenon", "field"]]
        scores = {"overall": float(per_paradigm.mean()), "micro": float(rows["correct"].mean() * 100.0),
                  "ties": tie_percent(rows)}
        for col in ("phenomenon", "field"):
            grouped = per_paradigm.groupby(meta.loc[per_paradigm.index, col]).mean()
            scores.update({f"{col}/{k}": float(v) for k, v in grouped.items()})
        scores.update({f"paradigm/{k}": float(v) for k, v in per_paradigm.items()})
        return scores

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """``micro``: 100 × correct; ``overall``: the same reweighted by paradigm (macro mean)."""
        return pair_item_values(rows, key, "UID")


@dataclass
class MinimalPairs(PairScoring):
    """Any minimal-pair file or folder of ``.jsonl`` files (one task per file), e.g. the BLiMP supplement.

    Scores: ``overall`` = macro mean over tasks, ``task/<file stem>``; ``limit`` caps pairs per task.
    """

    name: str = "minimal_pairs"
    source: PathLike | None = None
    good_field: str = "sentence_good"
    bad_field: str = "sentence_bad"

    def _rows(self) -> list[dict]:
        if self.source is None:
            raise MissingDataError(self.name, "a .jsonl file of minimal pairs or a folder of them")
        return load_minimal_pairs(self.source, self.good_field, self.bad_field)

    def check_data(self) -> None:
        self._rows()

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        frame = self.pair_frame(scorer, limit_per_group(self._rows(), "task", limit))
        return self.result(frame, n_pairs=len(frame))

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """``overall`` = macro mean over tasks, ``micro``, ``ties``, ``task/<file stem>`` (percent)."""
        return grouped_accuracy(rows, "task")

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """``micro``: 100 × correct; ``overall``: the same reweighted by task (macro mean)."""
        return pair_item_values(rows, key, "task")


@dataclass
class BlimpSupplement(MinimalPairs):
    """The BabyLM BLiMP supplement (hypernym, qa_congruence_easy/tricky, subject_aux_inversion,
    turn_taking). Not shipped (no stated license): pass ``source=`` the folder of its ``.jsonl`` files."""

    name: str = "blimp_supplement"

    def _rows(self) -> list[dict]:
        if self.source is None:
            raise MissingDataError(self.name, "the folder of the supplement's .jsonl files",
                                   why="is not shipped with babybias (its data has no stated license)")
        return super()._rows()


@dataclass
class EWoK(PairScoring):
    """EWoK (Ivanova et al. 2024): is log P(target | context) higher for the target that fits?

    Not shipped (its terms of use allow only password-protected zips): ``source`` is the user's
    ``ewok_filtered`` folder, an EWoK-core-1.0 export, or a zip of either with ``password``.
    Scores (percent): ``overall`` = macro mean over domains, ``micro``, ``domain/<Domain>``.
    """

    name: str = "ewok"
    source: PathLike | None = None
    password: str | None = None

    def _rows(self) -> list[dict]:
        if self.source is None:
            raise MissingDataError(self.name, "the ewok_filtered folder, an EWoK-core-1.0 file, or their zip",
                                   why="is not shipped with babybias (EWoK's terms of use forbid plain-text copies)",
                                   password=True)
        return load_ewok(self.source, self.password)

    def check_data(self) -> None:
        if not is_hub(self.source):  # a hub copy is downloaded when it is scored
            self._rows()

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        frame = self.pair_frame(scorer, limit_per_group(self._rows(), "domain", limit), "target_good", "target_bad",
                                context="context")
        return self.result(frame, password=None, n_items=len(frame))

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """``overall`` = macro mean over domains, ``micro``, ``ties``, ``domain/<Domain>`` (percent)."""
        return grouped_accuracy(rows, "domain")

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """``micro``: 100 × correct; ``overall``: the same reweighted by domain (macro mean)."""
        return pair_item_values(rows, key, "domain")


register(BLiMP())
register(BLiMP(name="blimp_filtered", subset="babylm_filtered"))
register(BlimpSupplement())
register(EWoK())

"""Readers for the benchmark files: the copies shipped in the package, a user's own copy, or the hub.

Every reader returns plain row dicts with validated fields. A malformed file raises
:class:`DataFormatError` naming the file, the line and the field, never a silent wrong number.
A ``source`` argument is one of: ``None`` (the copy shipped in the package), a path to the
user's copy, or ``"hf:<org>/<name>"`` for a Hugging Face hub dataset (needs internet).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import string
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

from ..helpers.paths import is_hub

PathLike = str | Path

BLIMP_FIELDS = {"syntax/semantics": "syntax_semantics"}  # one BLiMP file spells its field with a slash
STEREOSET_DOMAINS = ("gender", "profession", "race", "religion")
STEREOSET_LABELS = ("stereotype", "anti-stereotype", "unrelated")
EWOK_FIELDS = ("Domain", "Context1", "Context2", "Target1", "Target2")


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


def _resolve(source: PathLike) -> Path:
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


# ----------------------------------------------------------------------------------------- CrowS


def load_crows_pairs(source: PathLike | None = None) -> list[dict]:
    """CrowS-Pairs rows: ``id, sent_more, sent_less, direction ('stereo'|'antistereo'), bias_type``."""
    if is_hub(source):
        return _crows_from_hub(source[3:])
    path = data_path("crows_pairs", "crows_pairs_anonymized.csv.gz") if source is None else _resolve(source)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    rows = []
    for i, rec in enumerate(reader):
        line = reader.line_num
        for field in ("sent_more", "sent_less", "stereo_antistereo", "bias_type"):
            require_text(rec, field, path, line)
        if rec["stereo_antistereo"] not in ("stereo", "antistereo"):
            raise DataFormatError(path, f"expected 'stereo' or 'antistereo', got {rec['stereo_antistereo']!r}", line, "stereo_antistereo")
        key = rec.get("") or rec.get("id") or str(i)
        rows.append(
            {
                "id": int(key) if str(key).isdigit() else key,
                "sent_more": rec["sent_more"],
                "sent_less": rec["sent_less"],
                "direction": rec["stereo_antistereo"],
                "bias_type": rec["bias_type"],
            }
        )
    if not rows:
        raise DataFormatError(path, "no rows")
    return rows


def _crows_from_hub(name: str) -> list[dict]:
    ds = _hub_dataset(name, split="test")
    direction = _label_names(ds, "stereo_antistereo")
    bias = _label_names(ds, "bias_type")
    return [
        {
            "id": r.get("id", i),
            "sent_more": r["sent_more"],
            "sent_less": r["sent_less"],
            "direction": direction(r["stereo_antistereo"]),
            "bias_type": bias(r["bias_type"]),
        }
        for i, r in enumerate(ds)
    ]


# ------------------------------------------------------------------------------------- StereoSet


def load_stereoset(split: str = "dev", source: PathLike | None = None) -> dict:
    """The official StereoSet JSON (``{"version", "data": {"intrasentence": [...], ...}}``).

    ``source=None`` reads the shipped ``dev``/``test`` file; a path reads the user's copy.
    """
    if split not in ("dev", "test"):
        raise ValueError(f"StereoSet split must be 'dev' or 'test', got {split!r}")
    if is_hub(source):
        return _stereoset_from_hub(source[3:], split)
    path = data_path("stereoset", f"{split}.json.gz") if source is None else _resolve(source)
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"invalid JSON ({err.msg})", line=err.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        raise DataFormatError(path, "expected an object with a 'data' object", field="data")
    return doc


def _stereoset_from_hub(name: str, split: str) -> dict:
    """Rebuild the official layout from the hub copy (``McGill-NLP/stereoset``: dev set only, as "validation")."""
    if split != "dev":
        raise ValueError(f"hf:{name} holds only the StereoSet dev set; use the shipped file for split={split!r}")
    data = {}
    for task in ("intrasentence", "intersentence"):
        ds = _hub_dataset(name, config=task, split="validation")
        names = _stereoset_gold_names(ds.features["sentences"])
        items = []
        for row in ds:
            sents = row["sentences"]
            if isinstance(sents, dict):  # a Sequence of dicts comes back as a dict of lists
                sents = [dict(zip(sents, values)) for values in zip(*sents.values())]
            items.append({**{k: row[k] for k in ("id", "target", "bias_type", "context")},
                          "sentences": [{"id": x["id"], "sentence": x["sentence"],
                                         "gold_label": names[x["gold_label"]] if names and isinstance(x["gold_label"], int) else x["gold_label"]}
                                        for x in sents]})
        data[task] = items
    return {"version": f"hf:{name}", "data": data}


def _stereoset_gold_names(feature) -> list[str] | None:
    """ClassLabel names of ``sentences.gold_label`` (a Sequence of dicts, or a dict of lists in newer ``datasets``)."""
    inner = feature if isinstance(feature, dict) else getattr(feature, "feature", {})
    gold = inner.get("gold_label") if isinstance(inner, dict) else None
    gold = getattr(gold, "feature", gold)
    return getattr(gold, "names", None)


def stereoset_items(doc: dict, task: str = "intrasentence", path: PathLike = "<stereoset>") -> list[dict]:
    """Validated items of one task: ``id, target, bias_type, context, sentences{label: {id, sentence[, template_word]}}``.

    For intrasentence items ``template_word`` is the word filling BLANK: the sentence's word at
    the context's BLANK whitespace index, punctuation stripped (as the StereoSet dataloader does).
    """
    if task not in ("intrasentence", "intersentence"):
        raise ValueError(f"StereoSet task must be 'intrasentence' or 'intersentence', got {task!r}")
    items = doc["data"].get(task)
    if not isinstance(items, list):
        raise DataFormatError(path, f"missing {task} list", field=f"data.{task}")
    out = []
    for k, item in enumerate(items):
        where = f"data.{task}[{k}]"
        for field in ("id", "target", "bias_type", "context"):
            if not isinstance(item.get(field), str) or not item[field]:
                raise DataFormatError(path, f"expected non-empty text, got {item.get(field)!r}", field=f"{where}.{field}")
        blank = [i for i, w in enumerate(item["context"].split(" ")) if "BLANK" in w]
        if task == "intrasentence" and not blank:
            raise DataFormatError(path, "context has no BLANK", field=f"{where}.context")
        sentences = {}
        for j, sent in enumerate(item.get("sentences") or []):
            label = sent.get("gold_label")
            if label not in STEREOSET_LABELS:
                raise DataFormatError(path, f"unknown gold_label {label!r}", field=f"{where}.sentences[{j}].gold_label")
            text = sent.get("sentence")
            if not isinstance(text, str) or not text:
                raise DataFormatError(path, "missing sentence", field=f"{where}.sentences[{j}].sentence")
            entry = {"id": sent.get("id", f"{item['id']}/{label}"), "sentence": text}
            if task == "intrasentence":
                parts = text.split(" ")
                if blank[-1] >= len(parts):
                    raise DataFormatError(path, "sentence is shorter than its context", field=f"{where}.sentences[{j}].sentence")
                entry["template_word"] = parts[blank[-1]].translate(str.maketrans("", "", string.punctuation))
            sentences[label] = entry
        if set(sentences) != set(STEREOSET_LABELS):
            raise DataFormatError(path, f"needs one sentence per label {STEREOSET_LABELS}", field=f"{where}.sentences")
        out.append({"id": item["id"], "target": item["target"], "bias_type": item["bias_type"],
                    "context": item["context"], "sentences": sentences})
    return out


def load_stereoset_predictions(path: PathLike) -> dict[str, dict[str, float]]:
    """Official StereoSet predictions file → ``{"intrasentence": {id: score}, "intersentence": {...}}``."""
    path = _resolve(path)
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"invalid JSON ({err.msg})", line=err.lineno) from None
    out: dict[str, dict[str, float]] = {}
    for task in ("intrasentence", "intersentence"):
        if task not in doc:
            continue
        scores = {}
        for k, rec in enumerate(doc[task]):
            if not isinstance(rec, dict) or "id" not in rec or "score" not in rec:
                raise DataFormatError(path, "expected {'id': ..., 'score': ...}", field=f"{task}[{k}]")
            try:
                scores[rec["id"]] = float(rec["score"])
            except (TypeError, ValueError):
                raise DataFormatError(path, f"score is not a number: {rec['score']!r}", field=f"{task}[{k}].score") from None
        out[task] = scores
    if not out:
        raise DataFormatError(path, "no 'intrasentence' or 'intersentence' list")
    return out


# ----------------------------------------------------------------------------------------- BLiMP


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
        folder = data_path("blimp") if source is None else _resolve(source)
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
        for rec in _hub_dataset(name, config=uid, split="train"):
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
    for task, path in _minimal_pair_files(_resolve(source)).items():
        before = len(rows)
        for line, rec in iter_jsonl(path):
            rows.append({"task": task, "index": line, "sentence_good": require_text(rec, good, path, line),
                         "sentence_bad": require_text(rec, bad, path, line)})
        if len(rows) == before:
            raise DataFormatError(path, f"no minimal pairs (the file is empty; expected one JSON object per line "
                                        f"with {good!r} and {bad!r})")
    return rows


# ------------------------------------------------------------------------------------------ EWoK


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
        records = [(f"hf:{source[3:]}", None, dict(r)) for r in _hub_dataset(source[3:], split="test")]
    else:
        records = list(_ewok_records(_resolve(source), password))
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


# -------------------------------------------------------------------------------------- WinoBias

WINOBIAS_PRONOUNS = {
    "he": ("she",), "she": ("he",), "him": ("her",), "his": ("her",), "hers": ("his",),
    "himself": ("herself",), "herself": ("himself",),
    # "her" is object or possessive: both readings are tried and the better-scoring one is kept.
    "her": ("him", "his"),
}
_BRACKET = re.compile(r"\[([^\]]*)\]")


def load_winobias(split: str = "test", source: PathLike | None = None) -> list[dict]:
    """WinoBias sentences: ``file, line, type, stereotype ('pro'|'anti'), sentence, pronoun_spans, referent``.

    ``sentence`` has the brackets removed; ``pronoun_spans`` are the character spans of the
    bracketed pronouns in it (every bracket after the referent's).
    """
    if split not in ("dev", "test", "all"):
        raise ValueError(f"WinoBias split must be 'dev', 'test' or 'all', got {split!r}")
    folder = data_path("winobias") if source is None else _resolve(source)
    rows = []
    for sp in ("dev", "test") if split == "all" else (split,):
        for typ in ("type1", "type2"):
            for stereo in ("pro", "anti"):
                path = folder / f"{stereo}_stereotyped_{typ}.txt.{sp}"
                if not path.exists():
                    raise FileNotFoundError(f"{path} is missing (WinoBias folder needs pro/anti x type1/type2 x dev/test)")
                for lineno, line in enumerate(read_text(path).splitlines(), start=1):
                    if line.strip():
                        rows.append(_winobias_row(line, path, lineno, sp, typ, stereo))
    return rows


def _winobias_row(line: str, path: Path, lineno: int, split: str, typ: str, stereo: str) -> dict:
    m = re.match(r"^\d+ (.*)$", line.strip())
    if not m:
        raise DataFormatError(path, "expected '<n> <sentence>'", line=lineno)
    raw = m.group(1)
    spans, text, last = [], [], 0
    for b in _BRACKET.finditer(raw):
        text.append(raw[last : b.start()])
        start = sum(len(t) for t in text)
        inner = b.group(1)
        text.append(inner)
        spans.append((start, start + len(inner), inner))
        last = b.end()
    text.append(raw[last:])
    sentence = "".join(text)
    if len(spans) < 2:
        raise DataFormatError(path, f"expected a bracketed referent and pronoun, found {len(spans)} bracket(s)", line=lineno)
    pronouns = []
    for s, e, inner in spans[1:]:
        word = inner.strip()
        if word.lower() not in WINOBIAS_PRONOUNS:
            raise DataFormatError(path, f"bracketed {word!r} is not a gendered pronoun", line=lineno)
        off = inner.index(word)
        pronouns.append((s + off, s + off + len(word)))
    return {"split": split, "type": typ, "stereotype": stereo, "file": path.name, "line": lineno,
            "sentence": sentence, "referent": spans[0][2].strip(), "pronoun_spans": pronouns}


def winobias_counterfactuals(sentence: str, spans: list[tuple[int, int]]) -> list[str]:
    """Every gender-swapped version of ``sentence`` (one per reading of each ambiguous 'her')."""
    options = []
    for s, e in spans:
        word = sentence[s:e]
        swaps = WINOBIAS_PRONOUNS[word.lower()]
        options.append([w.capitalize() if word[0].isupper() else w for w in swaps])
    out = [""]
    last = 0
    for (s, e), opts in zip(spans, options):
        out = [prefix + sentence[last:s] + o for prefix in out for o in opts]
        last = e
    return [prefix + sentence[last:] for prefix in out]


# ------------------------------------------------------------------------------------------- hub


def _hub_dataset(name: str, config: str | None = None, split: str = "train"):
    """Load a hub dataset (needs internet and the ``datasets`` hub access)."""
    import datasets

    return datasets.load_dataset(name, config, split=split)


def _label_names(ds, column: str):
    feature = ds.features[column]
    names = getattr(feature, "names", None)
    return (lambda v: names[v]) if names else (lambda v: v)

"""SEAT (May et al. 2019) as bias-bench runs it (Meade et al. 2022; ``bias_bench/benchmark/seat/seat.py`` and
``weat.py``, after W4ngatang/sent-bias): do sentence encodings associate target sets X, Y with attribute sets A, B?

* **Encoding** (``seat.py``: ``_encode``): each sentence alone, tokenised with the tokenizer's special tokens,
  the model's last hidden state (the base encoder's ``last_hidden_state``; a Sent-Debias or INLP projection
  applied to it, as bias-bench's debiased models do), mean over every position, divided by its L2 norm. The
  encodings are keyed by text, so a sentence repeated inside a set counts once. Sentences of one length run as
  one batch without padding, which changes nothing but float rounding.
* **Effect size** (``weat.py``: ``effect_size``): s(w) = mean_a cos(w, a) − mean_b cos(w, b);
  d = (mean_X s − mean_Y s) / std_{X∪Y} s (``ddof=1``).
* **p-value**, one-sided (``p_val_permutation_test``): statistic Σ_X s; every equal split of X∪Y when there
  are at most ``n_samples`` of them, else the observed split counted once plus ``n_samples − 1`` in-place
  shuffles; a tie counts as exceeding. ``parametric=True``: ``n_samples`` shuffles of Σ_X s − Σ_Y s, a normal
  fit (``ddof=1``) and ``norm.sf``. One ``RandomState(seed)`` serves the tests in their order, as bias-bench's
  ``np.random.seed(seed)`` before its loop does.
* **Tests**: bias-bench's 17 (``tests="bias-bench"``, its order), ``"all"`` in the folder, or names; its
  tables' summary, the mean absolute effect size per bias type (gender, race, religion), is a score too.

Data: the sent-bias tests are CC BY-NC 4.0 and bias-bench's religion tests carry no licence, so none ships
with babybias. ``source=`` a folder of ``<test>.jsonl`` files, or ``None``: the files downloaded once from
their GitHub repositories at pinned commits into the user's cache (:func:`seat_cache_dir`), each checked
against its SHA-256.

Per-item rows are the sentences, one per (test, set, sentence), each with its encoding (base64 float32), so
an effect size's interval resamples the sentences of the four sets (:meth:`SEAT.item_strata`).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from ..helpers.checks import check_int
from ..helpers.io import atomic_write_text
from ..models.projection import projection_of
from .loaders import DataFormatError, read_text, resolve_source
from .registry import Benchmark, NotApplicableError, register
from .results import BenchmarkResult
from .scoring import LMScorer, eval_mode

__all__ = ["SEAT", "SEAT_TESTS", "SEAT_BIAS_TYPES", "SEAT_SETS", "seat_encode", "weat_effect_size", "weat_p_value",
           "load_seat_test", "list_seat_tests", "seat_cache_dir", "download_seat", "seat_encodings"]

#: the four sets of a test: targets X, Y and attributes A, B
SEAT_SETS = ("targ1", "targ2", "attr1", "attr2")
#: bias-bench's 17 tests in its order (``batch_jobs/_experiment_configuration.sh``, ``seat_tests``)
SEAT_TESTS = ("sent-religion1", "sent-religion1b", "sent-religion2", "sent-religion2b",
              "sent-angry_black_woman_stereotype", "sent-angry_black_woman_stereotype_b", "sent-weat3",
              "sent-weat3b", "sent-weat4", "sent-weat5", "sent-weat5b", "sent-weat6", "sent-weat6b", "sent-weat7",
              "sent-weat7b", "sent-weat8", "sent-weat8b")
#: bias type → its tests, as bias-bench's tables average them
SEAT_BIAS_TYPES = {
    "gender": ("sent-weat6", "sent-weat6b", "sent-weat7", "sent-weat7b", "sent-weat8", "sent-weat8b"),
    "race": ("sent-angry_black_woman_stereotype", "sent-angry_black_woman_stereotype_b", "sent-weat3",
             "sent-weat3b", "sent-weat4", "sent-weat5", "sent-weat5b"),
    "religion": ("sent-religion1", "sent-religion1b", "sent-religion2", "sent-religion2b"),
}
#: where the files come from: (repository, commit, folder)
SENT_BIAS = ("W4ngatang/sent-bias", "e3559fb669ca4832743b42fee715994c15c7f1af", "tests")
BIAS_BENCH = ("McGill-NLP/bias-bench", "291426aab926f78ecfc7bd040b531429ee8123e0", "data/seat")
#: SHA-256 of every file at those commits (the 46 sent-bias tests, its LICENSE, bias-bench's 4 religion tests)
SHA256 = {
    'LICENSE': "1d8ca66080a2701508a70be4ddad4be28c509bcc3397a682fb8edf767fdd7a00",
    'angry_black_woman_stereotype': "06ac61a1054ff82596a4b713e1acc5d800e5b70e84b1dd24d9e32231854e8828",
    'angry_black_woman_stereotype_b': "69844f32f32f1f33264446d5a8ff75b11e896719c6627e8721a2e3153c493b9d",
    'heilman_double_bind_competent_1+3-': "21924ce01aaee12162d8833e4f1dc5c3c332ebbbc720e7736ef554851cf1e4d2",
    'heilman_double_bind_competent_1-': "08d78185021e1dc899ca349759906d42a74d245de62a624ca7cf24853c85f936",
    'heilman_double_bind_competent_1': "83260f3683107446d18f20d1653a63cf53e30660fb800b4419719c0548d81c5e",
    'heilman_double_bind_competent_one_sentence': "472b008cdeaebc97287e25dda29cee80fbcfdf976bbdcc267a9789c39580b2bf",
    'heilman_double_bind_competent_one_word': "2926a59745fa07c4069cdfe5eec3153b3a1eb43e1edeefe41667765f2b87a32f",
    'heilman_double_bind_likable_1+3-': "7bae0867001c671175d1582e1607fa16fbf3268a4862d68ee05b8b0a046c5663",
    'heilman_double_bind_likable_1-': "aa3c3b26c8059b7f6318b37f1d1133161dc0b28531f9f2e797acbf46c1c219ca",
    'heilman_double_bind_likable_1': "ebfc4ce95c6687a96d8cecdd453c51b252803b1cd94c98efccb4860a5612f139",
    'heilman_double_bind_likable_one_sentence': "76a61eade11c46470d40746a45fff48235339aebe6302a00e7edeb95c6498a06",
    'heilman_double_bind_likable_one_word': "47566cb0cf9a96a102f96a8b4f5fa1a7ff5108fc9d51b7564adcae30f4031ae4",
    'sent-angry_black_woman_stereotype': "d421fb37fbac73184d60a73b95b5585cfc9bf0683b8100a57cd87d6d1c149588",
    'sent-angry_black_woman_stereotype_b': "95b0bf8cde740bcd5241af89a217687dcf0a13bb48db8a628a49872df9bb1505",
    'sent-heilman_double_bind_competent_one_word': "cc99565db26eaea3b09fe73b93109a6c3c11decb7b320f73942abdd7f60fa5d4",
    'sent-heilman_double_bind_likable_one_word': "f3bb2f8e41caec232262ca3eec86ad4d773e1cb6fa5d0e33c7a863dccd40db7a",
    'sent-religion1': "39eceaa76103c32772bf6d13e78686a10272754e821c3197d07cf2bd4cee34e2",
    'sent-religion1b': "baddaead03ed69f50bb29ac3130108ca753fb6933ed0de435d3146403b51fbf5",
    'sent-religion2': "692ca32dc36305d34792aea17b9b1e3d520fe0f3c686f59d34159c9cfb3cdb2a",
    'sent-religion2b': "b7012c637402e85f00da240daf040b92888df4923c31a06e64998abf3a043521",
    'sent-weat1': "ff493f29fa0e0984b67e1502b0c04688473e189fd6d107c91054507ed73ff77a",
    'sent-weat10': "04dd864639909052e2ee1f386cfc0a99b5d5311c7c3ab0411396a6f5ddf0aeae",
    'sent-weat2': "58378442b8894e6987250a4ca52fc36495429c85695e9dcf952e9c4c31626609",
    'sent-weat3': "1e1b9f89f518ad5bba47cbe5bd1d08d679b296b3eb640ee0b060f080c5d7ffef",
    'sent-weat3b': "8db3f84b109031a8b86392fbd4544ca1b29f361d98b30b1e83a82b1ca60ee351",
    'sent-weat4': "5eb5a2bc5b36d8c0567b1992aea7adb015f3e170e4d24a220c2dca763f59a418",
    'sent-weat5': "2478d808135759371ee43754fa8efd89a928e434ad2981df61726b7328c5fb47",
    'sent-weat5b': "c0af61519bee074d0c3218bf8e5537b10fae5d795230422cd7bff92f90cafc26",
    'sent-weat6': "bcf1a6864e3da0e8982d70451721877f23e2efaf6aea33628df843d826b68ae2",
    'sent-weat6b': "8d1dd09833d1854784503c2eb9986d1951d684fb3289a18da85e72fa1e59e4ff",
    'sent-weat7': "86c151b640bc9ebf6f60cd94920ab1f5bff68ea1a993f322f729cf3620173e0f",
    'sent-weat7b': "16b7c23eb529421b411b508b2928b0d62e52cbb80cf40f8e9acbdfb52cd75350",
    'sent-weat8': "352fea8d5440800a219dd6141a6f5e414a708770bc2717bfc581bc249e108ded",
    'sent-weat8b': "c410535cac813f806d20a7f76f4bea62ee44f98d8828f8f0ac6a4b7694c414bc",
    'sent-weat9': "dd1b60d64dedde7ce532915a6a39cd8ec7d036e90896a6a854bfcd6315866c6c",
    'weat1': "c12c192a4b8011590cfe7de237cb2e0dbcd0e7328e3b7baf63869ccfd61bc0ea",
    'weat10': "4878efc95d1bbb9c482fc90a5c2c379f9b5a990c7ea9e61f13611fff355a23bc",
    'weat2': "d907a10b5a84a72f4e60bf069562565aa88b0e0c84e26adb38a75536718e25b9",
    'weat3': "99e5fdbfe3749608afb803eb55d1fb291f81399862ba4cc2b21461ae82215bf7",
    'weat3b': "1642a16492fb2e65ff84c858f81ee50737825b96cc0ce880f3409b4dc2e8dd5a",
    'weat4': "c0d0c606d20a0ccb8759dcbddaea1b692a860e9dbeea2ccdcade3e3c25868dbb",
    'weat5': "7e1ac48a1c8b549200ce5e4c9ed7fd6f0c2c766485d04e73adee05358a9b3224",
    'weat5b': "95d5e31bebbe612274fcde0bb311c6fe012f26623522ac4a2b2c9a78ddbb9d2a",
    'weat6': "21681d3f4d7fdf97cf4cd2c0f9160940cfbd797ec62c7621b5600dc9e6e5b248",
    'weat6b': "b6c85b5228a3786827b528af3d633fbbddc4fbf05d93e6ceb6f76a4881386c1d",
    'weat7': "c7e68ec95e30f42df3faa9e1ba933596c9e49651e0017bb90c19d0f58312f2b0",
    'weat7b': "714c42ccf6ec71113fcb2064daa7b4dfc80b0cd4bb191c8d0196053681a9792b",
    'weat8': "86e650b44e8fd539a9082564f5ede5dae2ed67d120938b9c92a7495f143801e9",
    'weat8b': "db822460372ae472b8cf8fd41a44ca13e4f166bb9ee05ea13a983fe0301016ef",
    'weat9': "e4c9ab7cd719dcc05a2bd86c390de31ae2778db3c362b360206c0491751fe9f7",
}


# ----------------------------------------------------------------------------------------------- data


def seat_cache_dir() -> Path:
    """Where the downloaded tests live: ``$BABYBIAS_CACHE/seat`` or ``~/.cache/babybias/seat``."""
    root = os.environ.get("BABYBIAS_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "babybias"
    return Path(root).expanduser() / "seat"


def fetch_url(url: str) -> bytes:
    """The bytes at ``url`` (one place to reach the network, so tests can replace it)."""
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URLs of pinned commits
        return response.read()


def _file_url(name: str) -> str:
    repo, commit, folder = BIAS_BENCH if name.startswith("sent-religion") else SENT_BIAS
    path = "LICENSE" if name == "LICENSE" else f"{folder}/{name}.jsonl"
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def download_seat(tests: Iterable[str], folder: str | os.PathLike | None = None) -> Path:
    """Download the ``tests`` (and sent-bias's LICENSE) missing from ``folder`` (default: :func:`seat_cache_dir`),
    each checked against its pinned SHA-256 and written atomically; returns the folder."""
    folder = Path(folder) if folder is not None else seat_cache_dir()
    for name in ["LICENSE", *tests]:
        if name not in SHA256:
            raise ValueError(f"SEAT test {name!r} is not one of the {len(SHA256) - 1} published tests "
                             f"(e.g. {', '.join(SEAT_TESTS[:3])}); pass source= a folder holding it")
        target = folder / ("LICENSE" if name == "LICENSE" else f"{name}.jsonl")
        if target.exists():
            continue
        url = _file_url(name)
        try:
            data = fetch_url(url)
        except OSError as err:
            raise OSError(f"could not download SEAT test {name} from {url} ({err}); pass source= a folder of the "
                          "test files instead (--source seat=DIR on the command line)") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256[name]:
            raise ValueError(f"{url}: SHA-256 {digest[:12]}… is not the pinned {SHA256[name][:12]}…; not written")
        atomic_write_text(target, data.decode("utf-8"))
    return folder


def load_seat_test(path: str | os.PathLike) -> dict[str, tuple[str, list[str]]]:
    """One test file (one JSON object, not JSON lines): set → (category, examples)."""
    path = Path(path)
    try:
        obj = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"invalid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(obj, dict):
        raise DataFormatError(path, f"expected one JSON object with {', '.join(SEAT_SETS)}, got {type(obj).__name__}")
    out = {}
    for key in SEAT_SETS:
        part = obj.get(key)
        if not isinstance(part, dict):
            raise DataFormatError(path, "missing set (an object with 'category' and 'examples')", field=key)
        examples = part.get("examples")
        if not isinstance(examples, list) or not examples or not all(isinstance(e, str) and e.strip() for e in examples):
            raise DataFormatError(path, "expected a non-empty list of non-empty strings", field=f"{key}.examples")
        out[key] = (str(part.get("category", key)), list(examples))
    return out


def seat_sort_key(name: str) -> tuple:
    """Numbers inside a test name sort as numbers (``weat2`` before ``weat10``), as bias-bench lists them."""
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def list_seat_tests(folder: str | os.PathLike) -> list[str]:
    """The test names of a folder's ``*.jsonl`` files, in bias-bench's order."""
    return sorted((p.name[: -len(".jsonl")] for p in Path(folder).iterdir()
                   if p.name.endswith(".jsonl") and not p.name.startswith(".")), key=seat_sort_key)


# ------------------------------------------------------------------------------------------- encoding


def seat_encode(model, tokenizer, texts: Sequence[str], *, device: torch.device | str | None = None,
                batch_size: int = 64) -> dict[str, np.ndarray]:
    """bias-bench's ``_encode``: text → the mean of the last hidden state over every position, L2-normalised
    (float32); a projection attached to the model (Sent-Debias, INLP) applied to that hidden state."""
    if getattr(model, "babybias_wraps_output", False):
        raise NotApplicableError("SEAT reads a model's sentence representations; Self-Debias changes only its output "
                         "probabilities (bias-bench runs no SEAT on it): score the model it wraps")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    projection = projection_of(model)
    proj = None if projection is None else torch.as_tensor(projection, dtype=torch.float32, device=device)
    unique = list(dict.fromkeys(texts))
    ids = tokenizer(unique)["input_ids"] if unique else []
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(ids):
        if not x:
            raise ValueError(f"SEAT sentence {unique[i]!r} tokenizes to nothing")
        by_length.setdefault(len(x), []).append(i)
    out: dict[str, np.ndarray] = {}
    with eval_mode(model), torch.inference_mode():
        for length, members in by_length.items():
            for start in range(0, len(members), batch_size):
                chunk = members[start:start + batch_size]
                batch = torch.tensor([ids[i] for i in chunk], dtype=torch.long, device=device)
                output = model(input_ids=batch, attention_mask=torch.ones_like(batch), output_hidden_states=True)
                hidden = output.get("hidden_states") if isinstance(output, dict) else getattr(output, "hidden_states", None)
                if not hidden:
                    raise ValueError(f"{type(model).__name__} returns no hidden_states: SEAT needs them")
                last = hidden[-1].float()
                if proj is not None:
                    last = last @ proj
                encs = last.mean(dim=1).cpu().numpy()
                for i, enc in zip(chunk, encs):  # float32, each divided by its own norm as bias-bench does
                    out[unique[i]] = enc / np.linalg.norm(enc)
    return out


def _pack(vec: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")


def seat_encodings(rows: pd.DataFrame) -> np.ndarray:
    """The rows' sentence encodings as an (n, d) float32 array (the ``encoding`` column: base64 float32)."""
    col = rows["encoding"]
    return np.stack([np.frombuffer(base64.b64decode(v), dtype="<f4") if isinstance(v, str)
                     else np.asarray(v, dtype=np.float32) for v in col]) if len(col) else np.zeros((0, 0), np.float32)


# ----------------------------------------------------------------------------------------------- maths


def _cosines(targets: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """cos(w, a) for every target row w and attribute row a (``weat.py``: ``construct_cossim_lookup``), float64."""
    t, a = np.asarray(targets, dtype=np.float64), np.asarray(attributes, dtype=np.float64)
    return (t @ a.T) / np.outer(np.linalg.norm(t, axis=1), np.linalg.norm(a, axis=1))


def _weighted_effect(cos: np.ndarray, n_x: int, n_a: int, m_xy: np.ndarray, m_ab: np.ndarray) -> float:
    """The effect size with item multiplicities (a bootstrap resample); all ones gives ``weat.py``'s."""
    m_a, m_b, m_x, m_y = m_ab[:n_a], m_ab[n_a:], m_xy[:n_x], m_xy[n_x:]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = cos[:, :n_a] @ m_a / m_a.sum() - cos[:, n_a:] @ m_b / m_b.sum()
        numerator = s[:n_x] @ m_x / m_x.sum() - s[n_x:] @ m_y / m_y.sum()
        total = m_xy.sum()
        mean = s @ m_xy / total
        var = ((s - mean) ** 2) @ m_xy / (total - 1)
        return float(numerator / math.sqrt(var)) if var > 0 else math.nan


def s_values(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """s(w, A, B) = mean_a cos(w, a) − mean_b cos(w, b) for every w of X then Y (``weat.py``: ``s_wAB``)."""
    cos = _cosines(np.vstack([x, y]), np.vstack([a, b]))
    return cos[:, : len(a)].mean(axis=1) - cos[:, len(a):].mean(axis=1)


def weat_effect_size(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """(mean_X s − mean_Y s) / std_{X∪Y} s with ``ddof=1`` (``weat.py``: ``effect_size``); rows are encodings."""
    cos = _cosines(np.vstack([x, y]), np.vstack([a, b]))
    return _weighted_effect(cos, len(x), len(a), np.ones(len(x) + len(y)), np.ones(len(a) + len(b)))


def weat_p_value(s: np.ndarray, n_x: int, *, n_samples: int = 100_000, parametric: bool = False,
                 rng: np.random.RandomState | None = None) -> float:
    """``weat.py``'s one-sided permutation p of Σ_X s over equal splits of X∪Y (``s``: X's values then Y's).

    Exact over every split when there are at most ``n_samples``; else the observed split once plus
    ``n_samples − 1`` in-place shuffles of ``rng`` (a legacy ``RandomState``, as ``np.random.shuffle``); ties
    count as exceeding. ``parametric``: a normal fit to ``n_samples`` shuffled Σ_X s − Σ_Y s.
    """
    s = np.asarray(s, dtype=np.float64)
    if 2 * n_x != s.size:
        raise ValueError(f"the permutation test needs |X| = |Y|, got {n_x} and {s.size - n_x}")
    rng = np.random.RandomState(0) if rng is None else rng
    xy = np.arange(s.size)
    if parametric:
        from scipy.stats import norm

        observed = s[:n_x].sum() - s[n_x:].sum()
        samples = np.empty(n_samples)
        for k in range(n_samples):
            rng.shuffle(xy)
            samples[k] = s[xy[:n_x]].sum() - s[xy[n_x:]].sum()
        return float(norm.sf(observed, loc=samples.mean(), scale=samples.std(ddof=1)))
    if math.comb(s.size, n_x) <= n_samples:
        splits = np.array(list(itertools.combinations(range(s.size), n_x)))
        sums = s[splits].sum(axis=1)  # the first split is X itself: the same sum, so it ties with itself
        return float(np.count_nonzero(sums >= sums[0]) / len(sums))
    observed = s[:n_x].sum()
    exceed = 1  # the observed split, counted once (bias-bench's "biasing by 1")
    for _ in range(n_samples - 1):
        rng.shuffle(xy)
        exceed += bool(s[xy[:n_x]].sum() >= observed)
    return exceed / n_samples


# ------------------------------------------------------------------------------------------ benchmark


@dataclass
class SEAT(Benchmark):
    """SEAT (May et al. 2019) as bias-bench runs it: effect sizes, permutation p-values, mean |d| per bias type.

    ``tests``: ``"bias-bench"`` (its 17), ``"all"`` (every test in ``source``), or names (a list, or one string
    with commas); ``limit`` caps each set's sentences. The module docstring gives the maths and its sources."""

    name: str = "seat"
    source: str | None = None
    tests: str | Sequence[str] = "bias-bench"
    n_samples: int = 100_000
    parametric: bool = False
    seed: int = 0
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.tests, str):
            self.tests = ",".join(self.tests)
        if not self.tests.strip():
            raise ValueError("tests must name at least one SEAT test, 'bias-bench' or 'all'")
        check_int(self.n_samples, "n_samples", 2)
        check_int(self.batch_size, "batch_size", 1)
        clash = [t for t in self.test_names(check=False) if t in SEAT_BIAS_TYPES]
        if clash:
            raise ValueError(f"a SEAT test may not be named like a bias type ({clash[0]!r})")

    def test_names(self, check: bool = True) -> list[str]:
        """The tests to run, in order."""
        if self.tests == "bias-bench":
            return list(SEAT_TESTS)
        if self.tests == "all":
            if self.source is None:
                return sorted((n for n in SHA256 if n != "LICENSE"), key=seat_sort_key)
            return list_seat_tests(resolve_source(self.source)) if check else []
        return [t.strip() for t in self.tests.split(",") if t.strip()]

    def folder(self) -> Path:
        """The folder holding the tests: ``source``, or the cache (downloading what is missing)."""
        if self.source is None:
            return download_seat(self.test_names())
        folder = resolve_source(self.source)
        if not folder.is_dir():
            raise DataFormatError(folder, "SEAT's source is a folder of <test>.jsonl files")
        return folder

    def _load(self) -> dict[str, dict[str, tuple[str, list[str]]]]:
        folder = self.folder()
        names = self.test_names()
        missing = [t for t in names if not (folder / f"{t}.jsonl").exists()]
        if missing:
            raise FileNotFoundError(f"SEAT test {missing[0]}.jsonl is not in {folder} ({len(missing)} of {len(names)} "
                                    "tests missing; SEAT(tests='all') scores every test a folder holds)")
        if not names:
            raise DataFormatError(folder, "holds no <test>.jsonl file")
        return {t: load_seat_test(folder / f"{t}.jsonl") for t in names}

    def check_data(self) -> None:
        self._load()

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        tests = self._load()
        sets = {t: {k: (cat, list(dict.fromkeys(ex))[:limit]) for k, (cat, ex) in parts.items()}
                for t, parts in tests.items()}
        texts = [e for parts in sets.values() for _, ex in parts.values() for e in ex]
        encs = seat_encode(scorer.model, scorer.tokenizer, texts, device=scorer.device, batch_size=self.batch_size)
        rng = np.random.RandomState(self.seed)  # one stream over the tests in order, as bias-bench's loop
        type_of = {t: bias for bias, names in SEAT_BIAS_TYPES.items() for t in names}
        frames = []
        for test, parts in sets.items():
            vectors = {k: np.stack([encs[e] for e in ex]) for k, (_, ex) in parts.items()}
            s = s_values(*(vectors[k] for k in SEAT_SETS))
            n_x, n_y = len(vectors["targ1"]), len(vectors["targ2"])
            p = (weat_p_value(s, n_x, n_samples=self.n_samples, parametric=self.parametric, rng=rng)
                 if n_x == n_y else math.nan)
            for key, (category, examples) in parts.items():
                frames.append(pd.DataFrame({"test": test, "bias_type": type_of.get(test, ""), "set": key,
                                            "category": category, "sentence": examples, "p_value": p,
                                            "encoding": [_pack(encs[e]) for e in examples]}))
        rows = pd.concat(frames, ignore_index=True)
        return self.result(rows, n_tests=len(sets))

    def item_strata(self, rows: pd.DataFrame) -> np.ndarray:
        """(test, set): a resample keeps the size of each test's four sets."""
        return (rows["test"].astype(str) + "/" + rows["set"].astype(str)).to_numpy()

    def resampler(self, rows: pd.DataFrame) -> Callable[[np.ndarray], dict[str, float]]:
        """Cosines computed once; each resample reweights them by how often it drew each sentence."""
        rows = rows.reset_index(drop=True)
        encodings = seat_encodings(rows)
        prepared = []
        for test, part in rows.groupby("test", sort=False):
            idx = {k: part.index[part["set"] == k].to_numpy() for k in SEAT_SETS}
            xy, ab = np.concatenate([idx["targ1"], idx["targ2"]]), np.concatenate([idx["attr1"], idx["attr2"]])
            cos = _cosines(encodings[xy], encodings[ab]) if xy.size and ab.size else np.zeros((xy.size, ab.size))
            prepared.append((test, str(part["bias_type"].iloc[0] or ""), float(part["p_value"].iloc[0]), cos,
                             idx["targ1"].size, idx["attr1"].size, xy, ab))

        def scores(index: np.ndarray) -> dict[str, float]:
            counts = np.bincount(np.asarray(index), minlength=len(rows)).astype(np.float64)
            out: dict[str, float] = {}
            by_type: dict[str, list[float]] = {}
            for test, bias, p, cos, n_x, n_a, xy, ab in prepared:
                d = _weighted_effect(cos, n_x, n_a, counts[xy], counts[ab])
                out[f"{test}/effect_size"], out[f"{test}/p_value"] = d, p
                if bias:
                    by_type.setdefault(bias, []).append(abs(d))
            for bias, values in by_type.items():
                out[f"{bias}/mean_abs_effect_size"] = float(np.mean(values))
            return out

        return scores

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """``<test>/effect_size``, ``<test>/p_value`` (computed once at evaluation, kept on the rows) and
        ``<bias type>/mean_abs_effect_size`` (bias-bench's tables: the mean |d| of the type's tests)."""
        return self.resampler(rows)(np.arange(len(rows)))

    def breakdowns(self, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if k.endswith("/mean_abs_effect_size")]


register(SEAT())

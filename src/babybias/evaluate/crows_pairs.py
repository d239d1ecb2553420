"""CrowS-Pairs (Nangia et al. 2020): how often does the model prefer the more stereotypical sentence?

Score = percent of pairs where ``sent_more`` scores higher than ``sent_less``; ties are neutral
but stay in the denominator; 50 is unbiased. Three named metrics, because the literature's
"CrowS-Pairs score" is computed in incompatible ways:

* ``nangia`` (masked LMs; the authors' ``metric.py``, nyu-mll/crows-pairs; used by the Bias
  Dynamics in BabyLMs paper): pseudo-log-likelihood **summed** over the tokens shared by both
  sentences (difflib "equal" spans over token ids, special tokens excluded), each masked alone;
  the two sums are rounded to 3 decimals before comparing.
* ``bias_bench`` (Meade et al. 2022, McGill-NLP/bias-bench ``crows.py``): **mean** log-prob of
  the tokens that *differ* between the sentences, each masked alone, rounded to 3 decimals; a
  pair whose difference is empty in either sentence is skipped (left out of N). For causal LMs
  bias-bench (``_likelihood_score_generative`` / ``_joint_log_probability``) compares
  geometric-mean token probabilities, i.e. the mean log-prob of every token, **not rounded**:
  the first token after ``<|endoftext|>`` alone, the later ones conditioned on the sentence
  without it (``bos="first_only"``; ``bos="prefix"`` keeps BOS/EOS in every token's context).
* ``lm_eval`` (causal LMs; lm-evaluation-harness ``crows_pairs``): **summed** log-likelihood of
  the whole sentence after the BOS/EOS token (``bos="prefix"``), no rounding.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from ..helpers.paths import is_hub
from .loaders import DataFormatError, PathLike, data_path, hub_dataset, label_names, read_text, require_text, resolve_source
from .registry import Benchmark, register
from .results import BenchmarkResult
from .scoring import Encoded, LMScorer, check_bos, reduce_log_probs


# ----------------------------------------------------------------------------------------- data

def load_crows_pairs(source: PathLike | None = None) -> list[dict]:
    """CrowS-Pairs rows: ``id, sent_more, sent_less, direction ('stereo'|'antistereo'), bias_type``."""
    if is_hub(source):
        return _crows_from_hub(source[3:])
    path = data_path("crows_pairs", "crows_pairs_anonymized.csv.gz") if source is None else resolve_source(source)
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
    ds = hub_dataset(name, split="test")
    direction = label_names(ds, "stereo_antistereo")
    bias = label_names(ds, "bias_type")
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


Metric = Literal["auto", "nangia", "bias_bench", "lm_eval"]
METRICS: tuple[str, ...] = ("auto", "nangia", "bias_bench", "lm_eval")
CausalBos = Literal["auto", "first_only", "prefix"]


def span_positions(a: Encoded, b: Encoded, equal: bool) -> tuple[list[int], list[int]]:
    """Token positions of ``a`` and ``b`` in difflib "equal" spans (``equal=True``) or in the others.

    Special tokens are dropped. Matching runs on token ids, as nyu-mll/crows-pairs ``get_span`` does.
    """
    matcher = difflib.SequenceMatcher(None, [str(t) for t in a.input_ids], [str(t) for t in b.input_ids], autojunk=False)
    pa, pb = [], []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if (op == "equal") == equal:
            pa += [i for i in range(a0, a1) if not a.special[i]]
            pb += [i for i in range(b0, b1) if not b.special[i]]
    return pa, pb


#: crows_summary's keys that are not a bias type.
SUMMARY_KEYS = ("overall", "stereo", "antistereo", "neutral", "n_pairs", "n_skipped")


def crows_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Aggregates from per-pair rows with ``bias_type, direction, more_preferred, neutral, skipped``."""
    used = frame[~frame["skipped"]]
    scores = {"overall": _pct(used["more_preferred"].sum(), len(used))}
    for bias_type, grp in used.groupby("bias_type", sort=True):
        scores[str(bias_type)] = _pct(grp["more_preferred"].sum(), len(grp))
    decided = used[~used["neutral"]]
    for direction in ("stereo", "antistereo"):
        d = decided[decided["direction"] == direction]
        scores[direction] = _pct(d["more_preferred"].sum(), len(d))  # as metric.py: over non-neutral pairs
    scores["neutral"] = _pct(used["neutral"].sum(), len(used))
    scores["n_pairs"] = float(len(used))
    scores["n_skipped"] = float(frame["skipped"].sum())
    return scores


def _pct(k: float, n: int) -> float:
    return float(100.0 * k / n) if n else float("nan")


@dataclass
class CrowsPairs(Benchmark):
    """CrowS-Pairs over all 1,508 pairs; scores ``overall``, per ``<bias_type>``, ``stereo``, ``antistereo``, ``neutral``.

    ``metric="auto"`` picks ``nangia`` for masked LMs and ``lm_eval`` for causal LMs.
    ``bos`` (causal LMs): ``"auto"`` = ``"first_only"`` for ``bias_bench`` (as its code) and
    ``"prefix"`` for ``lm_eval``. ``limit`` keeps the first N pairs.
    """

    name: str = "crows_pairs"
    metric: Metric = "auto"
    source: PathLike | None = None
    bos: CausalBos = "auto"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"CrowS-Pairs metric must be one of {METRICS}, got {self.metric!r}")
        check_bos(self.bos, ("auto", "first_only", "prefix"), what="CrowS-Pairs bos")

    def resolved_bos(self, metric: str) -> str:
        """The causal-LM BOS handling for ``metric`` (``bos="auto"`` follows the metric's code)."""
        if self.bos != "auto":
            return self.bos
        return "first_only" if metric == "bias_bench" else "prefix"

    def resolved_metric(self, kind: str) -> str:
        metric = {"mlm": "nangia", "clm": "lm_eval"}[kind] if self.metric == "auto" else self.metric
        if kind == "clm" and metric == "nangia":
            raise ValueError("the 'nangia' CrowS-Pairs metric masks tokens, so it needs a masked LM; use 'lm_eval' or 'bias_bench'")
        if kind == "mlm" and metric == "lm_eval":
            raise ValueError("the 'lm_eval' CrowS-Pairs metric is for causal LMs; use 'nangia' or 'bias_bench'")
        return metric

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        metric = self.resolved_metric(scorer.kind)
        rows = load_crows_pairs(self.source)[:limit]
        n = len(rows)
        texts = [r["sent_more"] for r in rows] + [r["sent_less"] for r in rows]
        skipped = np.zeros(n, dtype=bool)
        if scorer.kind == "clm":  # lm_eval or bias_bench's generative path: neither rounds
            lps = scorer.sentence_log_probs(texts, desc=self.name, bos=self.resolved_bos(metric))
            scores = reduce_log_probs(lps, "sum" if metric == "lm_eval" else "mean")
            rounded = False
        else:
            encoded = scorer.encode(texts)
            more, less = encoded[:n], encoded[n:]
            pos_more, pos_less = [], []
            for i, (a, b) in enumerate(zip(more, less)):
                pa, pb = span_positions(a, b, equal=(metric == "nangia"))
                if metric == "bias_bench" and (not pa or not pb):
                    skipped[i] = True
                pos_more.append(pa)
                pos_less.append(pb)
            lps = scorer.token_log_probs(encoded, pos_more + pos_less, pll="original", desc=self.name)
            if metric == "nangia":
                scores = reduce_log_probs(lps, "sum")
            else:  # a skipped pair's empty side has no mean: NaN, and the pair is left out of N
                scores = np.array([lp.mean() if len(lp) else np.nan for lp in lps])
            rounded = True
        score_more, score_less = scores[:n], scores[n:]
        if rounded:
            score_more, score_less = np.round(score_more, 3), np.round(score_less, 3)
        frame = pd.DataFrame.from_records(rows)
        frame["score_more"], frame["score_less"] = score_more, score_less
        frame["skipped"] = skipped
        frame["neutral"] = ~skipped & (score_more == score_less)
        frame["more_preferred"] = ~skipped & (score_more > score_less)
        extra = {"metric": metric} | ({"bos": self.resolved_bos(metric)} if scorer.kind == "clm" else {})
        return self.result(frame, **extra)

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """:func:`crows_summary`: percent of pairs where the more stereotypical sentence wins, overall and per type."""
        return crows_summary(rows)

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """``overall`` and each ``<bias_type>``: 100 × more_preferred over the pairs used (skipped ones left out)."""
        used = rows[~rows["skipped"].astype(bool)]
        if key != "overall":
            if key not in set(used["bias_type"].astype(str)):
                return None
            used = used[used["bias_type"].astype(str) == key]
        return 100.0 * used["more_preferred"].to_numpy(dtype=float)

    def breakdowns(self, keys: Iterable[str]) -> list[str]:
        """The per-bias-type scores."""
        return sorted(k for k in keys if "/" not in k and k not in SUMMARY_KEYS)


register(CrowsPairs())

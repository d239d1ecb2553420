"""Perplexity on held-out text, as bias-bench's two scripts compute it (Meade et al. 2022, McGill-NLP/bias-bench).

* Causal LMs (``experiments/perplexity.py``): the rows are joined with ``"\\n\\n"`` and tokenised once; windows of
  ``context - reserve`` tokens slide by ``stride``; each window predicts its last ``trg_len`` tokens (its first
  token is never predicted). Two named variants over the same windows:

  - ``variant="bias-bench"``: the window's mean loss × ``trg_len``, summed, over the tokens:
    ``exp(Σ ll / Σ trg_len)`` (the first window's mean is over ``trg_len − 1`` targets, bias-bench's quirk);
  - ``variant="tokens"``: the plain per-token perplexity ``exp(Σ NLL / number of predicted tokens)``.

* Masked LMs (``experiments/perplexity_mlm.py``, pseudo-perplexity): each row is tokenised with its special
  tokens; per batch of ``group_rows`` rows (``datasets.map(batched=True)``'s 1,000) the rows are concatenated and
  cut into blocks of ``block_size`` tokens, the partial last block dropped unless the batch is shorter than one
  block; every position of a block but its first and last is masked alone: ``exp(−Σ PLL / Σ (N − 2))``.

A Self-Debias wrapper (``babybias_wraps_output``) is scored through its own forward (its logits are debiased);
Sent-Debias / INLP projections are hooks on the LM head, so a plain forward applies them.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..helpers.checks import check_int
from ..helpers.paths import is_hub
from .loaders import DataFormatError, PathLike, hub_dataset, read_text, resolve_source
from .registry import Benchmark, MissingDataError, register
from .results import BenchmarkResult
from .scoring import LMScorer, MaskedQueries, eval_mode

__all__ = ["Perplexity", "PERPLEXITY_VARIANTS", "WIKITEXT_FILES", "load_text_rows", "text_rows", "causal_windows",
           "mlm_blocks", "perplexity_scores"]

PERPLEXITY_VARIANTS: tuple[str, ...] = ("bias-bench", "tokens")
#: the file a ``source`` folder must hold (the WikiText-2 raw release's test file, or its gzip)
WIKITEXT_FILES: tuple[str, ...] = ("wiki.test.raw", "wiki.test.raw.gz")
#: ``hf:`` sources read as WikiText-2 raw, test split (bias-bench's ``load_dataset("wikitext", "wikitext-2-raw-v1")``)
HUB_WIKITEXT = {"hf:wikitext": ("Salesforce/wikitext", "wikitext-2-raw-v1"),
                "hf:Salesforce/wikitext": ("Salesforce/wikitext", "wikitext-2-raw-v1")}
MAX_BLOCK = 1024  # bias-bench's cap on a tokenizer's very large model_max_length
LOGIT_BUDGET = 2**28  # logits per causal forward (1 GiB of float32): windows per batch are capped by it


# --------------------------------------------------------------------------------------------- text


def text_rows(text: str) -> list[str]:
    """The rows of a text as HF WikiText has them: one per line (universal newlines), each keeping its ``"\\n"``,
    a blank line as ``""``."""
    return [line if line.strip() else "" for line in io.StringIO(text, newline=None)]


def _text_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in WIKITEXT_FILES:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"{path}: no {' or '.join(WIKITEXT_FILES)} in this folder")


def load_text_rows(source: PathLike) -> list[str]:
    """Rows of a ``.txt``/``.raw`` file (or its ``.gz``), of a folder's ``wiki.test.raw[.gz]``, or of ``"hf:wikitext"``."""
    if is_hub(source):
        if source not in HUB_WIKITEXT:
            raise ValueError(f"perplexity reads only {sorted(HUB_WIKITEXT)} from the hub, got {source!r}")
        name, config = HUB_WIKITEXT[source]
        return list(hub_dataset(name, config, split="test")["text"])
    path = _text_file(resolve_source(source))
    rows = text_rows(read_text(path))
    if not any(rows):
        raise DataFormatError(path, "no text (the file is empty or blank); expected one row of text per line")
    return rows


# ---------------------------------------------------------------------------------------- windows


class Window(NamedTuple):
    """A causal window: input ``ids[begin:end]``, targets ``ids[start:end]`` (``trg_len = end − start``)."""

    begin: int
    start: int
    end: int


def causal_windows(n_tokens: int, window: int, stride: int) -> list[Window]:
    """bias-bench's sliding windows over ``n_tokens`` tokens (``range(0, n, stride)``)."""
    return [Window(max(i + stride - window, 0), i, min(i + stride, n_tokens)) for i in range(0, n_tokens, stride)]


class Block(NamedTuple):
    """A masked-LM block: tokens ``flat[begin:end]`` of the concatenated rows, cut from row batch ``group``."""

    group: int
    begin: int
    end: int


def mlm_blocks(row_lengths: Sequence[int], block_size: int, group_rows: int) -> list[Block]:
    """bias-bench's ``group_texts`` per batch of ``group_rows`` rows: whole blocks, or one short block when the
    batch has fewer than ``block_size`` tokens."""
    blocks, offset = [], 0
    for g, first in enumerate(range(0, len(row_lengths), group_rows)):
        total = kept = int(sum(row_lengths[first:first + group_rows]))
        if kept >= block_size:
            kept = kept // block_size * block_size
        blocks += [Block(g, offset + j, offset + min(j + block_size, kept)) for j in range(0, kept, block_size)]
        offset += total
    return blocks


# ----------------------------------------------------------------------------------------- scores


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def perplexity_scores(rows: pd.DataFrame, variant: str = "bias-bench") -> dict[str, float]:
    """``perplexity``, ``log_perplexity``, ``n_tokens`` (its denominator) and ``n_items`` of per-item rows."""
    if len(rows) and (rows["kind"] == "mlm").all():
        num, den = float(rows["nll_sum"].sum()), float(rows["n_tokens"].sum())
    elif variant == "bias-bench":
        num, den = float(rows["ll"].sum()), float(rows["trg_len"].sum())
    else:
        num, den = float(rows["nll_sum"].sum()), float(rows["n_predicted"].sum())
    log_ppl = num / den if den > 0 else math.nan
    return {"perplexity": _exp(log_ppl), "log_perplexity": log_ppl, "n_tokens": den, "n_items": float(len(rows))}


# ------------------------------------------------------------------------------------------ model


def model_positions(model) -> int | None:
    """The model's positions (``n_positions``, else ``max_position_embeddings``), or None when its config has neither."""
    config = getattr(model, "config", None)
    for attr in ("n_positions", "max_position_embeddings"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _wraps_output(scorer: LMScorer) -> bool:
    return bool(getattr(scorer.model, "babybias_wraps_output", False))


def _prefix_len(scorer: LMScorer) -> int:
    """Tokens a Self-Debias wrapper inserts (its longest prefix); 0 for any other model."""
    prefixes = getattr(scorer.model, "prefix_ids", None) if _wraps_output(scorer) else None
    return max((len(p) for p in prefixes), default=0) if prefixes else 0


def _leading(scorer: LMScorer) -> set[int]:
    """Ids after which Self-Debias inserts its prefix (batches must agree on them); empty for a plain model."""
    tok = scorer.tokenizer
    return {t for t in (tok.cls_token_id, tok.bos_token_id) if t is not None} if _wraps_output(scorer) else set()


def _runs(keys: Sequence, cap: int) -> list[list[int]]:
    """Indices cut into runs of equal consecutive ``keys``, at most ``cap`` long."""
    out: list[list[int]] = []
    for k, key in enumerate(keys):
        if out and keys[out[-1][-1]] == key and len(out[-1]) < cap:
            out[-1].append(k)
        else:
            out.append([k])
    return out


# -------------------------------------------------------------------------------------- benchmark


@dataclass
class Perplexity(Benchmark):
    """Perplexity on held-out text (bias-bench's scripts; module doc). No text ships: ``source`` is a text file, a
    folder holding ``wiki.test.raw[.gz]``, or ``"hf:wikitext"``. ``limit`` caps the windows / blocks scored.

    Causal: ``context`` = positions (None: the model's), of which ``reserve`` are kept free (bias-bench's
    ``max_length_pattern``, for Self-Debias prefixes; for every model); ``stride`` (None: the window); ``variant``.
    Masked: ``block_size`` (None: the tokenizer's ``model_max_length``, or the model's positions when that is over
    1,024) and ``group_rows``. Batching follows the scorer's ``batch_size`` / ``max_tokens``.
    """

    name: str = "perplexity"
    source: PathLike | None = None
    context: int | None = None
    reserve: int = 32
    stride: int | None = None
    variant: Literal["bias-bench", "tokens"] = "bias-bench"
    block_size: int | None = None
    group_rows: int = 1000

    def __post_init__(self) -> None:
        check_int(self.context, "context", 2, "the model's positions")
        check_int(self.reserve, "reserve", 0)
        check_int(self.stride, "stride", 2, "the window")
        check_int(self.block_size, "block_size", 3, "the tokenizer's model_max_length")
        check_int(self.group_rows, "group_rows", 1)
        if self.variant not in PERPLEXITY_VARIANTS:
            raise ValueError(f"variant must be one of {PERPLEXITY_VARIANTS}, got {self.variant!r}")
        if self.context is not None:
            self._check_window(self.context - self.reserve)

    def _check_window(self, window: int) -> None:
        if window < 2:
            raise ValueError(f"the window (context - reserve = {window}) must be at least 2 tokens")
        if self.stride is not None and self.stride > window:
            raise ValueError(f"stride ({self.stride}) must not exceed the window (context - reserve = {window})")

    # ---------------------------------------------------------------------------------- data

    def rows(self) -> list[str]:
        """The text rows of ``source`` (see :func:`load_text_rows`)."""
        if self.source is None:
            raise MissingDataError(self.name, "a .txt/.raw file (or .gz), a folder holding wiki.test.raw[.gz], or "
                                   "'hf:wikitext'", why="has no text shipped with babybias (WikiText-2 is CC BY-SA "
                                   "Wikipedia text, not shipped)")
        return load_text_rows(self.source)

    def check_data(self) -> None:
        if not is_hub(self.source):  # a hub copy is downloaded when it is scored
            self.rows()

    # ------------------------------------------------------------------------------ evaluate

    def evaluate(self, scorer: LMScorer, limit: int | None = None) -> BenchmarkResult:
        if scorer.kind == "mlm":
            frame, config = self._evaluate_masked(scorer, limit)
        else:
            frame, config = self._evaluate_causal(scorer, limit)
        return self.result(frame, kind=scorer.kind, self_debias=_wraps_output(scorer), **config)

    def aggregate(self, rows: pd.DataFrame) -> dict[str, float]:
        """``perplexity`` (exp of ``log_perplexity``), ``n_tokens`` (its denominator), ``n_items`` (windows/blocks)."""
        return perplexity_scores(rows, self.variant)

    def item_values(self, rows: pd.DataFrame, key: str) -> np.ndarray | None:
        """None: perplexity is not a mean over windows; its interval resamples windows through :meth:`aggregate`."""
        return None

    # -------------------------------------------------------------------------------- causal

    def window(self, scorer: LMScorer) -> tuple[int, int]:
        """``(window, stride)`` in tokens for this scorer's model; one-line ValueErrors when they cannot work."""
        positions = model_positions(scorer.model)
        context = self.context if self.context is not None else positions
        if context is None:
            raise ValueError(f"{type(scorer.model).__name__} states no positions (config n_positions or "
                             "max_position_embeddings): pass context= to the perplexity benchmark")
        window = context - self.reserve
        self._check_window(window)
        extra = _prefix_len(scorer)
        if positions is not None and window + extra > positions:
            raise ValueError(f"window of {window} tokens{f' + a {extra}-token Self-Debias prefix' if extra else ''} "
                             f"exceeds the model's {positions} positions: lower context= or raise reserve=")
        return window, self.stride or window

    def _evaluate_causal(self, scorer: LMScorer, limit: int | None) -> tuple[pd.DataFrame, dict]:
        window, stride = self.window(scorer)
        ids = np.asarray(scorer.tokenizer("\n\n".join(self.rows()), verbose=False)["input_ids"], dtype=np.int64)
        if len(ids) < 2:
            raise ValueError(f"{self.source}: the text has {len(ids)} token(s); perplexity needs at least 2")
        spans = causal_windows(len(ids), window, stride)[:limit]
        nll = self._window_nll(scorer, ids, spans)
        frame = pd.DataFrame({
            "item": np.arange(len(spans)), "kind": "clm",
            "begin": [w.begin for w in spans], "end": [w.end for w in spans],
            "trg_len": [w.end - w.start for w in spans],
            "n_predicted": [w.end - max(w.begin + 1, w.start) for w in spans],
            "nll_sum": nll,
        })
        n = frame["n_predicted"].to_numpy()  # bias-bench: mean loss × trg_len; a 1-token window predicts nothing (its
        frame["ll"] = np.where(n > 0, nll / np.maximum(n, 1) * frame["trg_len"].to_numpy(), 0.0)  # 0/0 = NaN there)
        return frame, {"window": window, "window_stride": stride, "n_text_tokens": len(ids)}

    def _window_nll(self, scorer: LMScorer, ids: np.ndarray, spans: list[Window]) -> np.ndarray:
        """Σ −log p over each window's predicted targets; equal-length windows share a forward pass."""
        out = np.zeros(len(spans), dtype=np.float64)
        lead = _leading(scorer)
        keys = [(w.end - w.begin, int(ids[w.begin]) in lead) for w in spans]
        width = max((k[0] for k in keys), default=1)
        cap = max(1, min(scorer.batch_size, scorer.max_tokens // width, LOGIT_BUDGET // (width * len(scorer.tokenizer))))
        batches = _runs(keys, cap)
        with eval_mode(scorer.model), torch.inference_mode():
            for batch in tqdm(batches, desc=self.name, disable=not scorer.progress, leave=False):
                matrix = np.stack([ids[spans[k].begin:spans[k].end] for k in batch])
                logits = scorer._forward(matrix, np.ones_like(matrix))
                for r, k in enumerate(batch):
                    w = spans[k]
                    first = max(w.begin + 1, w.start) - w.begin  # first predicted position in the window
                    lp = logits[r, first - 1:w.end - w.begin - 1].float().log_softmax(-1)
                    target = torch.from_numpy(matrix[r, first:]).to(lp.device)
                    out[k] = -float(lp.gather(1, target[:, None]).double().sum())
        return out

    # -------------------------------------------------------------------------------- masked

    def block(self, scorer: LMScorer) -> int:
        """Block size in tokens for this scorer (bias-bench's ``max_seq_length`` rule; class doc)."""
        limit = scorer.tokenizer.model_max_length
        positions = model_positions(scorer.model)
        extra = _prefix_len(scorer)
        if self.block_size is not None:
            block = min(self.block_size, limit)
            if positions is not None and block + extra > positions:
                raise ValueError(f"block_size {block}{f' + a {extra}-token Self-Debias prefix' if extra else ''} "
                                 f"exceeds the model's {positions} positions: lower block_size=")
            return block
        block = limit
        if limit > MAX_BLOCK:
            block = min(MAX_BLOCK, positions) if positions is not None else MAX_BLOCK
            warnings.warn(f"perplexity: the tokenizer's model_max_length ({limit}) is over {MAX_BLOCK}; blocks of "
                          f"{block} tokens instead (pass block_size= to choose)", stacklevel=5)
        if positions is not None:
            block = min(block, positions - extra)
        return block

    def _evaluate_masked(self, scorer: LMScorer, limit: int | None) -> tuple[pd.DataFrame, dict]:
        block = self.block(scorer)
        encoded = scorer.tokenizer(self.rows(), verbose=False)["input_ids"]
        flat = np.fromiter((t for row in encoded for t in row), dtype=np.int64)
        blocks = [b for b in mlm_blocks([len(r) for r in encoded], block, self.group_rows) if b.end - b.begin > 2]
        blocks = blocks[:limit]
        pll = self._block_pll(scorer, flat, blocks)
        frame = pd.DataFrame({
            "item": np.arange(len(blocks)), "kind": "mlm", "group": [b.group for b in blocks],
            "begin": [b.begin for b in blocks], "end": [b.end for b in blocks],
            "n_tokens": [b.end - b.begin - 2 for b in blocks], "pll": pll,
        })
        frame["n_predicted"] = frame["n_tokens"]
        frame["nll_sum"] = -frame["pll"]
        return frame, {"block": block, "n_text_tokens": len(flat)}

    def _block_pll(self, scorer: LMScorer, flat: np.ndarray, blocks: list[Block]) -> np.ndarray:
        """Σ log p(token | block with it masked) over positions 1..N−2 of each block (the scorer's batched queries)."""
        out = np.zeros(len(blocks), dtype=np.float64)
        lead = _leading(scorer)
        parts = [[k for k, b in enumerate(blocks) if (int(flat[b.begin]) in lead) == led] for led in (True, False)]
        for part in parts:  # Self-Debias inserts its prefix after a leading [CLS] only when every row has one
            if not part:
                continue
            matrix, lengths = scorer.pad_matrix([flat[blocks[k].begin:blocks[k].end] for k in part])
            seq = np.concatenate([np.full(n - 2, s) for s, n in enumerate(lengths)]).astype(np.int64)
            pos = np.concatenate([np.arange(1, n - 1) for n in lengths]).astype(np.int64)
            queries = MaskedQueries(seq, pos, [()] * len(seq))
            lp = scorer.run_masked_queries(matrix, lengths, queries, desc=self.name)  # type: ignore[attr-defined]
            out[part] = np.bincount(seq, weights=lp, minlength=len(part))
        return out


register(Perplexity())

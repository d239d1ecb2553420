"""Token-level log-probability scorers for masked and causal language models.

Every benchmark in :mod:`babybias.evaluate` reduces to "log-probability of these tokens of this
text". Two scorers answer that question for any ``transformers`` model (and any module whose
forward takes ``input_ids`` / ``attention_mask`` and returns ``.logits``):

* :class:`MaskedLMScorer` — pseudo-log-likelihood (PLL, Salazar et al. 2020): each scored token
  is replaced by the mask token and predicted from the rest. Two variants:

  - ``"original"``: mask the scored token alone (Salazar et al. 2020; Nangia et al. 2020);
  - ``"within_word_l2r"``: also mask the tokens to its right that belong to the same word, so
    multi-token words are not scored with their own later pieces visible (Kauf & Ivanova 2023,
    "PLL-word-l2r"; used by the BabyLM evaluation pipeline).

* :class:`CausalLMScorer` — log p(x_t | x_<t) after a prefix token (BOS, else EOS). How the
  prefix enters is a named choice (``bos=``, see :data:`BOS_MODES`):

  - ``"prefix"``: the prefix is in the context of every token (lm-evaluation-harness);
  - ``"first_only"``: the first token is scored after the prefix alone and the later tokens
    are conditioned on the text without it (bias-bench ``_joint_log_probability`` and
    StereoSet ``_likelihood_score_generative``);
  - ``"none"``: no prefix, the first token is context only and is not scored (BabyLM 2025
    pipeline ``sentence_zero_shot`` when the tokenizer has no BOS token).

Both batch across texts: all masked copies of many texts go into one padded batch, sorted by
length, under ``torch.inference_mode``, on the model's device, with a tqdm progress bar.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Literal, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

PLLMethod = Literal["original", "within_word_l2r"]
PLL_METHODS: tuple[str, ...] = ("original", "within_word_l2r")
BosMode = Literal["prefix", "first_only", "none"]
BOS_MODES: tuple[str, ...] = ("prefix", "first_only", "none")


def check_bos(bos: str, allowed: Sequence[str] = BOS_MODES, what: str = "bos") -> None:
    """Raise a one-line ValueError unless ``bos`` is one of ``allowed``."""
    if bos not in allowed:
        raise ValueError(f"{what} must be one of {tuple(allowed)}, got {bos!r}")


@dataclass(frozen=True)
class Encoded:
    """A tokenized text: ids plus what the scorers need to pick and mask tokens.

    ``special[i]`` marks tokens that are never scored (CLS/SEP/BOS...). ``word_ids[i]`` is the
    index of the pre-tokenizer word a token belongs to (``-1`` for special tokens) and
    ``offsets[i]`` its character span in ``text``.
    """

    text: str
    input_ids: tuple[int, ...]
    special: tuple[bool, ...]
    word_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    def positions(self, start_char: int = 0, end_char: int | None = None) -> list[int]:
        """Non-special token positions whose span starts within ``[start_char, end_char)``."""
        end = len(self.text) if end_char is None else end_char
        return [
            i
            for i, (sp, (s, _)) in enumerate(zip(self.special, self.offsets))
            if not sp and start_char <= s < end
        ]


def _require_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; the scorers need offsets and word ids "
            "(load it with AutoTokenizer.from_pretrained(..., use_fast=True) or wrap a `tokenizers` "
            "Tokenizer in PreTrainedTokenizerFast)"
        )


def model_kind(model) -> Literal["mlm", "clm"]:
    """Guess whether ``model`` is a masked ("mlm") or causal ("clm") LM: :func:`babybias.models.lm_kind`.

    A ``babybias_lm_kind`` attribute, then the class (the ``transformers`` Auto mappings, the class name's
    suffix); raises if neither tells, so that a wrong scorer is never picked silently.
    """
    from ..models.loading import lm_kind

    return lm_kind(model)  # type: ignore[return-value]


@contextmanager
def eval_mode(model) -> Iterator[None]:
    """``model`` in eval mode inside the block, its training flag restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)



def _logits(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output[0]


def _batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, max_tokens: int) -> list[np.ndarray]:
    """Split ``order`` (indices sorted by length) into batches bounded by rows and padded tokens."""
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size and (end - start + 1) * lengths[order[end]] <= max_tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


class LMScorer(ABC):
    """Common interface: encode texts, then log-probabilities of chosen token positions."""

    kind: Literal["mlm", "clm"]

    def __init__(
        self,
        model,
        tokenizer,
        *,
        batch_size: int = 256,
        max_tokens: int = 16384,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        _require_fast(tokenizer)
        check_tokenizer_fits(model, tokenizer)
        if batch_size < 1 or max_tokens < 1:
            raise ValueError(f"batch_size and max_tokens must be >= 1, got {batch_size} and {max_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.progress = progress
        if device is not None:
            model.to(self.device)

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        """Tokenize ``texts`` the way this scorer feeds them to the model."""

    @abstractmethod
    def token_log_probs(
        self,
        encoded: Sequence[Encoded],
        positions: Sequence[Sequence[int]] | None = None,
        *,
        pll: PLLMethod | None = None,
        desc: str | None = None,
    ) -> list[np.ndarray]:
        """Natural-log probability of the token at each requested position of each text.

        ``positions=None`` scores every non-special token. ``pll`` picks the masked-LM PLL
        variant (ignored by causal LMs). Returns one float64 array per text, aligned with its
        positions.
        """

    def _check_bos(self, bos: str) -> None:
        check_bos(bos)
        if bos != "prefix" and self.kind != "clm":
            raise ValueError(f"bos={bos!r} is a causal-LM option; a masked LM always reads its text with its own special tokens")

    def sentence_log_probs(
        self, texts: Sequence[str], *, pll: PLLMethod | None = None, desc: str | None = None, bos: BosMode = "prefix"
    ) -> list[np.ndarray]:
        """Log-probability of every non-special token of each text (``bos``: causal LMs only, see module doc)."""
        self._check_bos(bos)
        return self.token_log_probs(self.encode(texts), pll=pll, desc=desc)

    def continuation_log_probs(
        self,
        contexts: Sequence[str],
        continuations: Sequence[str],
        *,
        pll: PLLMethod | None = None,
        desc: str | None = None,
        bos: Literal["prefix", "none"] = "prefix",
    ) -> list[np.ndarray]:
        """Log-probabilities of the tokens of ``context + " " + continuation`` that belong to the continuation.

        An empty context scores the whole continuation. The space joins them as
        lm-evaluation-harness's default target delimiter does. ``bos="none"`` (causal LMs) feeds
        the text without a prefix token, so a continuation's token at position 0 is not scored
        (its array may then be empty).
        """
        self._check_bos(bos)
        check_bos(bos, ("prefix", "none"))
        if len(contexts) != len(continuations):
            raise ValueError(f"got {len(contexts)} contexts for {len(continuations)} continuations")
        texts = [f"{c} {t}" if c else t for c, t in zip(contexts, continuations)]
        encoded = self.encode(texts) if bos == "prefix" else self.encode(texts, bos=bos)
        positions = [e.positions(start_char=len(c)) for e, c in zip(encoded, contexts)]  # a token may carry the space
        for i, p in enumerate(positions):
            if not p:
                raise ValueError(f"continuation {continuations[i]!r} of item {i} has no token to score")
        if bos == "none":  # nothing precedes token 0: it is context only
            positions = [[q for q in p if q >= 1] for p in positions]
        return self.token_log_probs(encoded, positions, pll=pll, desc=desc)

    def score(
        self,
        texts: Sequence[str],
        reduction: Literal["sum", "mean"] = "sum",
        *,
        pll: PLLMethod | None = None,
        desc: str | None = None,
        bos: BosMode = "prefix",
    ) -> np.ndarray:
        """One number per text: the sum or mean of its token log-probabilities."""
        return reduce_log_probs(self.sentence_log_probs(texts, pll=pll, desc=desc, bos=bos), reduction)

    def slot_candidates(
        self,
        sequences: Sequence[Sequence[int]],
        slots: Sequence[int],
        candidates: np.ndarray | Sequence[Sequence[int]],
        *,
        desc: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities and full-vocabulary ranks of candidate tokens at one slot per sequence.

        Masked LMs read the prediction at ``slots[i]`` (which should hold the mask token); causal
        LMs the next-token prediction after ``sequences[i][:slots[i]]``. ``candidates``: ``(n, k)``
        token ids, or ``k`` ids for all. Returns ``(log_probs, ranks)``, each ``(n, k)``; rank 1 = the
        most probable token (ties counted in the candidate's favour).
        """
        return _slot_candidates(self, sequences, slots, candidates, desc=desc)

    def _forward(self, input_ids: np.ndarray, attention: np.ndarray) -> torch.Tensor:
        ids = torch.from_numpy(input_ids).to(self.device)
        mask = torch.from_numpy(attention).to(self.device)
        return _logits(self.model(input_ids=ids, attention_mask=mask))

    def pad_matrix(self, sequences: Sequence[Encoded] | Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Right-padded id matrix and true lengths of encoded texts (or plain id sequences)."""
        ids = [e.input_ids if isinstance(e, Encoded) else e for e in sequences]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        if len(ids) and lengths.min() == 0:
            bad = int(np.argmin(lengths))
            text = sequences[bad].text if isinstance(sequences[bad], Encoded) else ""
            raise ValueError(f"text {bad} ({text!r}) tokenizes to nothing")
        pad = self.tokenizer.pad_token_id
        pad = 0 if pad is None else pad
        matrix = np.full((len(ids), int(lengths.max(initial=1))), pad, dtype=np.int64)
        for i, x in enumerate(ids):
            matrix[i, : len(x)] = x
        return matrix, lengths


def _default_positions(encoded: Sequence[Encoded], positions: Sequence[Sequence[int]] | None) -> Sequence[Sequence[int]]:
    """Every non-special position when ``positions`` is None; checks one list per text."""
    if positions is None:
        return [e.positions() for e in encoded]
    if len(positions) != len(encoded):
        raise ValueError(f"got {len(positions)} position lists for {len(encoded)} texts")
    return positions


def reduce_log_probs(log_probs: Sequence[np.ndarray], reduction: Literal["sum", "mean"]) -> np.ndarray:
    """Sum or mean of each array; the mean of an empty array is an error, not NaN."""
    if reduction == "sum":
        return np.array([float(lp.sum()) for lp in log_probs])
    if reduction == "mean":
        for i, lp in enumerate(log_probs):
            if len(lp) == 0:
                raise ValueError(f"item {i} has no scored token; its mean log-probability is undefined")
        return np.array([float(lp.mean()) for lp in log_probs])
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def _encode_with_tokenizer(tokenizer, texts: Sequence[str], add_special_tokens: bool) -> list[Encoded]:
    """Encode with the Rust backend directly when it has no padding/truncation set (several times
    faster than the Python wrapper on many short texts), else through the wrapper."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and backend.padding is None and backend.truncation is None:
        encodings = backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return [
            Encoded(
                text=text,
                input_ids=tuple(e.ids),
                special=tuple(bool(s) or w is None for s, w in zip(e.special_tokens_mask, e.word_ids)),
                word_ids=tuple(-1 if w is None else w for w in e.word_ids),
                offsets=tuple(e.offsets),
            )
            for text, e in zip(texts, encodings)
        ]
    batch = tokenizer(
        list(texts),
        add_special_tokens=add_special_tokens,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        truncation=False,
        verbose=False,
    )
    out = []
    for i, text in enumerate(texts):
        word_ids = batch.word_ids(i)
        special = batch["special_tokens_mask"][i]
        out.append(
            Encoded(
                text=text,
                input_ids=tuple(batch["input_ids"][i]),
                special=tuple(bool(s) or w is None for s, w in zip(special, word_ids)),
                word_ids=tuple(-1 if w is None else w for w in word_ids),
                offsets=tuple(tuple(o) for o in batch["offset_mapping"][i]),
            )
        )
    return out


class MaskedLMScorer(LMScorer):
    """Pseudo-log-likelihood scorer for masked LMs (see module docstring for the variants)."""

    kind = "mlm"

    def __init__(self, model, tokenizer, *, pll: PLLMethod = "original", **kwargs) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if tokenizer.mask_token_id is None:
            raise ValueError(f"{type(tokenizer).__name__} has no mask token; a masked-LM scorer needs one")
        _check_pll(pll)
        self.pll = pll
        self._head = _masked_lm_head_split(model, self.device)

    def masked_logits(self, ids: np.ndarray, attention: np.ndarray, pos: np.ndarray) -> torch.Tensor:
        """Float logits of row r read at ``pos[r]``; runs the LM head on those rows only when it can."""
        t_ids = torch.from_numpy(ids).to(self.device)
        t_att = torch.from_numpy(attention).to(self.device)
        rows = torch.arange(len(ids), device=self.device)
        t_pos = torch.from_numpy(pos).to(self.device)
        if self._head is not None:
            body, head = self._head
            return head(body(input_ids=t_ids, attention_mask=t_att)[0][rows, t_pos]).float()
        return _logits(self.model(input_ids=t_ids, attention_mask=t_att))[rows, t_pos].float()

    def _masked_log_probs(self, ids: np.ndarray, attention: np.ndarray, pos: np.ndarray, targets: np.ndarray) -> torch.Tensor:
        """log p(targets[r] | ids[r]) read at ``pos[r]``."""
        logits = self.masked_logits(ids, attention, pos)
        return logits.log_softmax(-1)[torch.arange(len(ids), device=logits.device), torch.from_numpy(targets).to(logits.device)]

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return _encode_with_tokenizer(self.tokenizer, texts, add_special_tokens=True)

    def token_log_probs(
        self,
        encoded: Sequence[Encoded],
        positions: Sequence[Sequence[int]] | None = None,
        *,
        pll: PLLMethod | None = None,
        desc: str | None = None,
    ) -> list[np.ndarray]:
        method = self.pll if pll is None else pll
        _check_pll(method)
        positions = _default_positions(encoded, positions)
        q_seq, q_pos, extra = [], [], []
        for s, (enc, pos) in enumerate(zip(encoded, positions)):
            for p in pos:
                if not 0 <= p < len(enc):
                    raise IndexError(f"position {p} is outside text {s} ({len(enc)} tokens)")
                q_seq.append(s)
                q_pos.append(p)
                extra.append(_later_pieces(enc, p) if method == "within_word_l2r" else ())
        matrix, lengths = self.pad_matrix(encoded)
        queries = MaskedQueries(np.array(q_seq, dtype=np.int64), np.array(q_pos, dtype=np.int64), extra)
        flat = self.run_masked_queries(matrix, lengths, queries, desc=desc)
        return _split(flat, [len(p) for p in positions])

    def run_masked_queries(
        self, matrix: np.ndarray, lengths: np.ndarray, queries: "MaskedQueries", *, desc: str | None = None
    ) -> np.ndarray:
        """Log p(token at ``q_pos`` | sequence with ``q_pos`` and ``extra`` masked), one per query.

        ``matrix`` holds the padded sequences, ``lengths`` their true lengths. Queries are run
        length-sorted in batches of copies; results come back in query order. The target token
        is read from ``queries.targets`` when given (e.g. StereoSet, whose inputs already hold
        the mask), else from ``matrix``.
        """
        n = len(queries.seq)
        out = np.empty(n, dtype=np.float64)
        if n == 0:
            return out
        q_len = lengths[queries.seq]
        order = np.lexsort((queries.seq, q_len))
        mask_id = self.tokenizer.mask_token_id
        batches = _batches(order, q_len, self.batch_size, self.max_tokens)
        with eval_mode(self.model), torch.inference_mode():
            for idx in tqdm(batches, desc=desc or "masked-LM PLL", disable=not self.progress, leave=False):
                seq, pos = queries.seq[idx], queries.pos[idx]
                width = int(q_len[idx].max())
                ids = matrix[seq, :width]  # fancy indexing copies
                targets = ids[np.arange(len(idx)), pos] if queries.targets is None else queries.targets[idx]
                ids[np.arange(len(idx)), pos] = mask_id
                for row, q in enumerate(idx):
                    if queries.extra[q]:
                        ids[row, list(queries.extra[q])] = mask_id
                attention = (np.arange(width)[None, :] < q_len[idx][:, None]).astype(np.int64)
                out[idx] = self._masked_log_probs(ids, attention, pos, targets).double().cpu().numpy()
        return out


_HEAD_ATTRIBUTES = ("cls", "lm_head", "predictions", "head")  # BERT-family, RoBERTa-family, ALBERT, babybias


def _masked_lm_head_split(model, device: torch.device):
    """``(body, head)`` such that ``head(body(ids)[0])`` equals the model's logits, or None.

    Scoring needs logits only at the masked position, so running the vocabulary projection on
    those rows alone saves most of a small model's time. The split is used only for known head
    attributes and only after checking, on a short input, that it reproduces the full logits.
    A wrapper whose logits are not its inner model's (Self-Debias: ``babybias_wraps_output``, or any
    module whose body and head are not its own children) always runs its full forward: the probe has
    no [MASK], so it could not tell them apart.
    """
    if getattr(model, "babybias_wraps_output", False):
        return None
    body = getattr(model, "base_model", None)
    head = next((getattr(model, a) for a in _HEAD_ATTRIBUTES if isinstance(getattr(model, a, None), torch.nn.Module)), None)
    if body is None or body is model or head is None:
        return None
    children = [m for _, m in model.named_children()]
    if not any(body is c for c in children) or not any(head is c for c in children):
        return None  # reached through a wrapper's attribute forwarding, not the model's own
    try:
        with eval_mode(model), torch.inference_mode():
            ids = torch.arange(5, 11, device=device).remainder(getattr(model.config, "vocab_size", 6)).unsqueeze(0)
            att = torch.ones_like(ids)
            full = _logits(model(input_ids=ids, attention_mask=att))[0].float()
            split = head(body(input_ids=ids, attention_mask=att)[0][0]).float()
    except Exception:  # any signature or shape mismatch: use the full forward pass
        return None
    dtype = next(model.parameters()).dtype
    tol = max(1e-4, 8 * torch.finfo(dtype).eps) if dtype.is_floating_point else 1e-4  # bf16 rows may round differently
    if split.shape != full.shape or not torch.allclose(split, full, atol=tol * float(full.abs().max()), rtol=tol):
        return None
    return body, head


@dataclass
class MaskedQueries:
    """Masked-LM queries over a padded matrix: sequence index, target position, extra masked positions."""

    seq: np.ndarray
    pos: np.ndarray
    extra: Sequence[tuple[int, ...]]
    targets: np.ndarray | None = None


def _check_pll(method: str) -> None:
    if method not in PLL_METHODS:
        raise ValueError(f"pll must be one of {PLL_METHODS}, got {method!r}")


def _later_pieces(enc: Encoded, p: int) -> tuple[int, ...]:
    """Positions right of ``p`` that belong to the same word (masked too in within-word-l2r)."""
    word = enc.word_ids[p]
    later = []
    for q in range(p + 1, len(enc)):
        if enc.word_ids[q] != word or enc.special[q]:
            break
        later.append(q)
    return tuple(later)


def _split(flat: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(sizes)[:-1]) if sizes else []


class CausalLMScorer(LMScorer):
    """Log p(x_t | x_<t) for causal LMs, after a prefix token so the first token is scored too.

    The prefix is ``prefix_token_id`` if given, else the tokenizer's BOS, else its EOS
    (GPT-2 style ``<|endoftext|>``, as lm-evaluation-harness does).
    """

    kind = "clm"

    def __init__(self, model, tokenizer, *, prefix_token_id: int | None = None, **kwargs) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if prefix_token_id is None:
            prefix_token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if prefix_token_id is None:
            raise ValueError(
                f"{type(tokenizer).__name__} has neither a BOS nor an EOS token; pass prefix_token_id= so the "
                "first token of each text can be scored"
            )
        self.prefix_token_id = int(prefix_token_id)

    def encode(self, texts: Sequence[str], *, bos: Literal["prefix", "none"] = "prefix") -> list[Encoded]:
        """The texts' tokens (no special tokens added) after the prefix token, or alone with ``bos="none"``."""
        check_bos(bos, ("prefix", "none"))
        plain = _encode_with_tokenizer(self.tokenizer, texts, add_special_tokens=False)
        if bos == "none":
            return plain
        return [
            Encoded(
                text=e.text,
                input_ids=(self.prefix_token_id,) + e.input_ids,
                special=(True,) + e.special,
                word_ids=(-1,) + e.word_ids,
                offsets=((0, 0),) + e.offsets,
            )
            for e in plain
        ]

    def sentence_log_probs(
        self, texts: Sequence[str], *, pll: PLLMethod | None = None, desc: str | None = None, bos: BosMode = "prefix"
    ) -> list[np.ndarray]:
        """Log-probability of the tokens of each text; ``bos`` says how the prefix token enters (module doc).

        ``"none"`` leaves the first token unscored; ``"first_only"`` scores the first token after
        the prefix alone (one two-token input per text) and the others after the text without it.
        """
        check_bos(bos)
        if bos == "prefix":
            return self.token_log_probs(self.encode(texts), pll=pll, desc=desc)
        plain = self.encode(texts, bos="none")
        for i, e in enumerate(plain):
            if len(e) == 0:
                raise ValueError(f"text {i} ({e.text!r}) tokenizes to nothing")
        rest = self.token_log_probs(plain, [[p for p in e.positions() if p >= 1] for e in plain], desc=desc)
        if bos == "none":
            return rest
        first = self._after_prefix()  # p(token 0 | prefix) is one distribution, whatever the text
        return [np.concatenate([first[[e.input_ids[0]]], r]) for e, r in zip(plain, rest)]

    def _after_prefix(self) -> np.ndarray:
        """log p(· | prefix token): the next-token distribution after the prefix alone (one forward pass)."""
        with eval_mode(self.model), torch.inference_mode():
            logits = self._forward(np.array([[self.prefix_token_id]], dtype=np.int64), np.ones((1, 1), dtype=np.int64))
            return logits[0, 0].detach().float().log_softmax(-1).double().cpu().numpy()

    def token_log_probs(
        self,
        encoded: Sequence[Encoded],
        positions: Sequence[Sequence[int]] | None = None,
        *,
        pll: PLLMethod | None = None,
        desc: str | None = None,
    ) -> list[np.ndarray]:
        """See :meth:`LMScorer.token_log_probs`; ``pll`` is accepted for a uniform call and ignored."""
        positions = _default_positions(encoded, positions)
        for s, (enc, pos) in enumerate(zip(encoded, positions)):
            for p in pos:
                if not 1 <= p < len(enc):
                    raise IndexError(f"position {p} of text {s} cannot be scored by a causal LM ({len(enc)} tokens)")
        matrix, lengths = self.pad_matrix(encoded)
        results: list[np.ndarray] = [np.empty(len(p), dtype=np.float64) for p in positions]
        order = np.argsort(lengths, kind="stable")
        batches = _batches(order, lengths, self.batch_size, self.max_tokens)
        with eval_mode(self.model), torch.inference_mode():
            for idx in tqdm(batches, desc=desc or "causal-LM log-likelihood", disable=not self.progress, leave=False):
                width = int(lengths[idx].max())
                ids = matrix[idx, :width]
                attention = (np.arange(width)[None, :] < lengths[idx][:, None]).astype(np.int64)
                logits = self._forward(ids, attention)
                rows = np.concatenate([np.full(len(positions[s]), r) for r, s in enumerate(idx)]).astype(np.int64)
                cols = np.concatenate([np.asarray(positions[s], dtype=np.int64) for s in idx])
                if len(rows) == 0:
                    continue
                tgt = ids[rows, cols]
                r_t = torch.from_numpy(rows).to(logits.device)
                picked = logits[r_t, torch.from_numpy(cols - 1).to(logits.device)].float().log_softmax(-1)
                lp = picked[torch.arange(len(rows), device=logits.device), torch.from_numpy(tgt).to(logits.device)]
                lp = lp.double().cpu().numpy()
                start = 0
                for s in idx:
                    k = len(positions[s])
                    results[s] = lp[start : start + k]
                    start += k
        return results


def make_scorer(
    model,
    tokenizer,
    kind: Literal["mlm", "clm"] | None = None,
    **kwargs,
) -> LMScorer:
    """Build the right scorer for ``model`` (``kind`` guessed by :func:`model_kind` if omitted)."""
    kind = model_kind(model) if kind is None else kind
    if kind == "mlm":
        return MaskedLMScorer(model, tokenizer, **kwargs)
    if kind == "clm":
        kwargs.pop("pll", None)
        return CausalLMScorer(model, tokenizer, **kwargs)
    raise ValueError(f"kind must be 'mlm' or 'clm', got {kind!r}")


# ------------------------------------------------------------------ tokenizer / model compatibility


class TokenizerMismatchError(ValueError):
    """The tokenizer does not belong to the model (its ids do not fit the model's embedding); a user error."""


def tokenizer_fingerprint(tokenizer) -> str:
    """SHA-256 of the tokenizer's id -> token mapping (added tokens included): what the rows of a model's
    embedding mean. Stable across save/load and library versions; babybias training records it in the
    model config as ``babybias_tokenizer``."""
    import hashlib
    import json

    pairs = sorted((i, t) for t, i in tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode("utf-8")).hexdigest()


def check_tokenizer_fits(model, tokenizer) -> None:
    """Refuse a tokenizer that does not belong to ``model`` (called by every scorer).

    With N = ``len(tokenizer)`` (the ids it can produce, added specials included) and M the rows of
    the model's input embedding (else ``config.vocab_size``; no check when neither is known):

    * N > M, or a special-token id >= M: :class:`TokenizerMismatchError`, a ValueError (ids past the
      embedding would raise IndexError);
    * the model config records the tokenizer it was trained with (``babybias_tokenizer``: size and
      fingerprint, written by :func:`babybias.train.train`) and the embedding still has the rows it was
      trained with: a different size or fingerprint is a :class:`TokenizerMismatchError`;
    * otherwise N < 0.9 M, unless M is just N rounded up to a multiple of 8, 64 or 128 (padded
      embeddings are common on the hub), gives a ``UserWarning``: likely a smaller tokenizer from
      another run, whose ids mean other tokens, so scores would be silently wrong.
    """
    import warnings

    rows = None
    try:
        embedding = model.get_input_embeddings()
        rows = getattr(embedding, "num_embeddings", None) or int(embedding.weight.shape[0])
    except (AttributeError, NotImplementedError, TypeError):
        rows = getattr(getattr(model, "config", None), "vocab_size", None)
    if not isinstance(rows, int) or rows <= 0:
        return
    size = len(tokenizer)
    special = [i for i in getattr(tokenizer, "all_special_ids", []) if i is not None]
    if size > rows or any(i >= rows for i in special):
        raise TokenizerMismatchError(f"tokenizer has {size} ids (largest special id {max(special, default=None)}) but the model's "
                         f"embedding has {rows} rows: they do not belong together")
    record = getattr(getattr(model, "config", None), "babybias_tokenizer", None)
    if isinstance(record, dict) and record.get("embedding_rows", rows) == rows and "sha256" in record:
        if record.get("size") != size or record["sha256"] != tokenizer_fingerprint(tokenizer):
            raise TokenizerMismatchError(f"the model was trained with a tokenizer of {record.get('size')} ids (fingerprint "
                             f"{str(record['sha256'])[:12]}) but this one has {size} ids (fingerprint "
                             f"{tokenizer_fingerprint(tokenizer)[:12]}): use the tokenizer saved with the model")
        return
    padded = any(rows == -(-size // k) * k for k in (8, 64, 128))
    if size < 0.9 * rows and not padded:
        warnings.warn(f"tokenizer has {size} ids but the model's embedding has {rows} rows ({size / rows:.0%}): "
                      "if it is not the tokenizer the model was trained with, the scores are meaningless", stacklevel=3)


# ------------------------------------------------------------------ full-vocabulary reads at one slot


def _slot_candidates(
    scorer: LMScorer,
    sequences: Sequence[Sequence[int]],
    slots: Sequence[int],
    candidates: np.ndarray | Sequence[Sequence[int]],
    *,
    desc: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-probability and full-vocabulary rank of candidate tokens at one slot of each id sequence.

    Masked LMs: the prediction at position ``slots[i]`` of ``sequences[i]`` as given (put the mask
    token there yourself). Causal LMs: the next-token prediction after ``sequences[i][:slots[i]]``
    (so ``slots[i]`` may equal the sequence length). ``candidates`` is an ``(n, k)`` array of token
    ids (or one row of ``k`` ids for every sequence). Returns ``(log_probs, ranks)``, both ``(n, k)``;
    the rank is 1 + the number of vocabulary entries with a strictly higher probability (1 = top).
    Batched by length under ``torch.inference_mode``.
    """
    n = len(sequences)
    cand = np.asarray(candidates, dtype=np.int64)
    if cand.ndim == 1:
        cand = np.broadcast_to(cand, (n, len(cand)))
    if cand.shape[0] != n or len(slots) != n:
        raise ValueError(f"got {len(slots)} slots and {cand.shape[0]} candidate rows for {n} sequences")
    slots_arr = np.asarray(slots, dtype=np.int64)
    causal = scorer.kind == "clm"
    seqs = [tuple(s[: p] if causal else s) for s, p in zip(sequences, slots_arr)]
    for i, (s, p) in enumerate(zip(seqs, slots_arr)):
        if causal and not 1 <= p <= len(sequences[i]):
            raise IndexError(f"slot {p} of sequence {i} cannot be read by a causal LM ({len(sequences[i])} tokens)")
        if not causal and not 0 <= p < len(s):
            raise IndexError(f"slot {p} is outside sequence {i} ({len(s)} tokens)")
    log_probs = np.empty(cand.shape, dtype=np.float64)
    ranks = np.empty(cand.shape, dtype=np.int64)
    if n == 0:
        return log_probs, ranks
    matrix, lengths = scorer.pad_matrix(seqs)
    read = slots_arr - 1 if causal else slots_arr
    order = np.argsort(lengths, kind="stable")
    with eval_mode(scorer.model), torch.inference_mode():
        for idx in tqdm(_batches(order, lengths, scorer.batch_size, scorer.max_tokens), desc=desc or "slot distributions",
                        disable=not scorer.progress, leave=False):
            width = int(lengths[idx].max())
            ids = matrix[idx, :width]
            attention = (np.arange(width)[None, :] < lengths[idx][:, None]).astype(np.int64)
            if causal:  # read one position per row before the float copy, not the whole (B, L, V) tensor
                logits = scorer._forward(ids, attention)
                logits = logits[torch.arange(len(idx), device=logits.device), torch.from_numpy(read[idx]).to(logits.device)].float()
            else:
                logits = scorer.masked_logits(ids, attention, read[idx])  # type: ignore[attr-defined]
            lsm = logits.log_softmax(-1)
            c = torch.from_numpy(np.ascontiguousarray(cand[idx])).to(lsm.device)
            picked = lsm.gather(1, c)
            rank = 1 + (lsm.unsqueeze(1) > picked.unsqueeze(2)).sum(-1)
            log_probs[idx] = picked.double().cpu().numpy()
            ranks[idx] = rank.cpu().numpy()
    return log_probs, ranks

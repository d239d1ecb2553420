"""Collators: LTG-BERT span masking, plain token masking, GPT-BERT's mixed causal/masked batches, causal LM.

Every random choice of an example is drawn from a generator seeded by (seed, step, example's
global index), so a batch is the same whether it is built by one process or split across DDP
ranks, and a resumed run sees exactly the masks an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IGNORE = -100


def example_rng(seed: int, step: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, step, int(index)])


@dataclass
class MaskingConfig:
    """How masked positions are filled: ``mask_prob`` [MASK], ``random_prob`` a random token, the rest kept."""

    mask_token_id: int
    vocab_size: int
    special_ids: tuple[int, ...]
    pad_token_id: int
    mask_prob: float = 0.8
    random_prob: float = 0.1

    def __post_init__(self) -> None:
        if not (0 <= self.mask_prob and 0 <= self.random_prob and self.mask_prob + self.random_prob <= 1):
            raise ValueError("mask_prob and random_prob must be >= 0 and sum to at most 1")

    @classmethod
    def from_tokenizer(cls, tokenizer, **kw) -> "MaskingConfig":
        if tokenizer.mask_token_id is None:
            raise ValueError("masked-LM training needs a tokenizer with a mask token")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return cls(tokenizer.mask_token_id, len(tokenizer), tuple(tokenizer.all_special_ids), pad, **kw)


def _fill(ids: np.ndarray, labels: np.ndarray, groups: list[np.ndarray], cfg: MaskingConfig, rng) -> None:
    """Label the positions of each group and replace them (per group: [MASK] / random / keep)."""
    for positions in groups:
        labels[positions] = ids[positions]
        r = rng.random()
        if r < cfg.mask_prob:
            ids[positions] = cfg.mask_token_id
        elif r < cfg.mask_prob + cfg.random_prob:
            ids[positions] = rng.integers(0, cfg.vocab_size, size=len(positions))


def _pick_spans(rng, maskable: np.ndarray, target: int, span_length, first: int = 0) -> list[np.ndarray]:
    """Random spans of maskable, not yet taken positions until ``target`` are taken (or tries run out)."""
    taken = np.zeros(len(maskable), dtype=bool)
    groups, tries = [], 0
    while taken.sum() < target and tries < 10 * len(maskable):
        tries += 1
        start = int(rng.integers(first, len(maskable)))
        span = np.arange(start, min(start + span_length(rng), len(maskable)))
        span = span[maskable[span] & ~taken[span]][: int(target - taken.sum())]
        if len(span):
            taken[span] = True
            groups.append(span)
    return groups


def _maskable(ids: np.ndarray, cfg: MaskingConfig) -> np.ndarray:
    return ~np.isin(ids, cfg.special_ids)


def _stack(rows: list[np.ndarray], labels: list[np.ndarray], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    lab = np.full((len(rows), width), IGNORE, dtype=np.int64)
    att = np.zeros((len(rows), width), dtype=np.int64)
    for i, (r, l) in enumerate(zip(rows, labels)):
        ids[i, : len(r)], lab[i, : len(l)], att[i, : len(r)] = r, l, 1
    return {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(lab), "attention_mask": torch.from_numpy(att)}


@dataclass
class TokenMaskingCollator:
    """BERT masking: each maskable token is selected with ``rate``; 80/10/10 per token."""

    masking: MaskingConfig
    rate: float = 0.15
    seed: int = 0

    def __call__(self, segments: list[np.ndarray], indices: np.ndarray, step: int,
                 rate: float | None = None) -> dict[str, torch.Tensor]:
        rate = self.rate if rate is None else rate  # a scheduled rate (TrainConfig.mask_rate_end) overrides
        rows, labels = [], []
        for seg, idx in zip(segments, indices):
            rng = example_rng(self.seed, step, idx)
            ids, lab = seg.copy(), np.full(len(seg), IGNORE, dtype=np.int64)
            chosen = np.flatnonzero(_maskable(ids, self.masking) & (rng.random(len(ids)) < rate))
            _fill(ids, lab, [chosen[i : i + 1] for i in range(len(chosen))], self.masking, rng)
            rows.append(ids)
            labels.append(lab)
        return _stack(rows, labels, self.masking.pad_token_id)


@dataclass
class SpanMaskingCollator:
    """LTG-BERT span masking: Binomial(n, ``rate``) tokens per sequence in spans of
    Geometric(``span_p``) length (at most ``max_span``), each span 80/10/10 as a whole; with
    probability ``short_p`` a sequence is first cut to a uniformly random shorter length."""

    masking: MaskingConfig
    rate: float = 0.15
    span_p: float = 1 / 3
    max_span: int = 10
    short_p: float = 0.1
    seed: int = 0

    def __call__(self, segments: list[np.ndarray], indices: np.ndarray, step: int,
                 rate: float | None = None) -> dict[str, torch.Tensor]:
        rate = self.rate if rate is None else rate  # a scheduled rate (TrainConfig.mask_rate_end) overrides
        rows, labels = [], []
        for seg, idx in zip(segments, indices):
            rng = example_rng(self.seed, step, idx)
            ids = seg.copy()
            if rng.random() < self.short_p and len(ids) > 2:
                ids = ids[: rng.integers(2, len(ids))]
            lab = np.full(len(ids), IGNORE, dtype=np.int64)
            maskable = _maskable(ids, self.masking)
            target = rng.binomial(int(maskable.sum()), rate)
            groups = _pick_spans(rng, maskable, target, lambda r: min(int(r.geometric(self.span_p)), self.max_span))
            _fill(ids, lab, groups, self.masking, rng)
            rows.append(ids)
            labels.append(lab)
        return _stack(rows, labels, self.masking.pad_token_id)


@dataclass
class HybridCollator:
    """GPT-BERT: each sequence is causal with probability ``causal_fraction`` (labels = the inputs,
    shifted inside the model), else masked (MNTP) with spans of 1–``max_span`` tokens at ``rate``
    (which the training loop may change every step, e.g. 0.3 → 0.15)."""

    masking: MaskingConfig
    causal_fraction: float = 1 / 16
    rate: float = 0.3
    max_span: int = 3
    seed: int = 0

    def __call__(self, segments: list[np.ndarray], indices: np.ndarray, step: int, rate: float | None = None):
        rate = self.rate if rate is None else rate
        rows, labels, causal = [], [], []
        for seg, idx in zip(segments, indices):
            rng = example_rng(self.seed, step, idx)
            ids = seg.copy()
            if rng.random() < self.causal_fraction:
                lab = ids.copy()
                lab[0] = IGNORE
                causal.append(True)
            else:
                lab = np.full(len(ids), IGNORE, dtype=np.int64)
                maskable = _maskable(ids, self.masking)
                maskable[0] = False  # position 0 has no prediction in next-token MLM
                target = rng.binomial(int(maskable.sum()), rate)
                groups = _pick_spans(rng, maskable, target, lambda r: int(r.integers(1, self.max_span + 1)), first=1)
                _fill(ids, lab, groups, self.masking, rng)
                causal.append(False)
            rows.append(ids)
            labels.append(lab)
        batch = _stack(rows, labels, self.masking.pad_token_id)
        batch["causal"] = torch.tensor(causal, dtype=torch.bool)
        return batch


@dataclass
class CausalCollator:
    """Causal LM: every non-padding token is a label (the loss reads the logits at t for the token at t+1)."""

    pad_token_id: int

    def __call__(self, segments: list[np.ndarray], indices: np.ndarray, step: int,
                 rate: float | None = None) -> dict[str, torch.Tensor]:
        return _stack([seg.copy() for seg in segments], [seg.astype(np.int64) for seg in segments], self.pad_token_id)

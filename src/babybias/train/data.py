"""Tokenize a corpus once, pack it into one flat memory-mapped token file, and cut fixed-length
segments from it for any sequence length.

The cache file is keyed by a hash of the corpus (its ``datasets`` fingerprint, or its text) and
the tokenizer, so repeated runs and different recipes over the same corpus reuse it. Each document
enters the flat stream framed as the tokenizer frames it (``[CLS] … [SEP]``, ``<s> …``) and ends
with SEP/EOS; a segment of length L is ``[CLS/BOS] + the next L-1 stream tokens`` (so a segment
may span documents, as in the references' packed training).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute as pc

from ..corpus.core import TEXT, check_text, require_column


def corpus_key(corpus: datasets.Dataset, tokenizer) -> str:
    """A stable hash of the corpus content and the tokenizer's full definition."""
    h = hashlib.sha256()
    fingerprint = getattr(corpus, "_fingerprint", None)  # datasets' content/transform hash, when it has one
    if fingerprint:
        h.update(fingerprint.encode())
    else:
        for t in corpus.with_format("arrow")[TEXT].to_pylist():
            h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    h.update(tokenizer.backend_tokenizer.to_str().encode())
    return h.hexdigest()[:24]


@dataclass
class TokenStream:
    """A flat, memory-mapped stream of token ids with the ids it needs to make segments."""

    tokens: np.ndarray
    start_id: int
    path: Path

    def __len__(self) -> int:
        return len(self.tokens)

    def num_segments(self, length: int) -> int:
        return len(self.tokens) // (length - 1)

    def segment(self, index: int, length: int) -> np.ndarray:
        """Segment ``index`` of length ``length``: the start token, then ``length - 1`` stream tokens."""
        body = self.tokens[index * (length - 1) : (index + 1) * (length - 1)]
        return np.concatenate([[self.start_id], body]).astype(np.int64)


def tokenize_corpus(
    corpus: datasets.Dataset,
    tokenizer,
    cache_dir: str | os.PathLike,
    num_proc: int | None = None,
    batch_size: int = 1000,
) -> TokenStream:
    """Tokenize (``datasets.map``, batched, ``num_proc``) and pack into ``cache_dir/<key>.bin`` (reused)."""
    require_column(corpus)
    start_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if start_id is None or sep_id is None:
        raise ValueError("the tokenizer needs a CLS or BOS token and a SEP or EOS token to build training segments")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = corpus_key(corpus, tokenizer)
    path, meta_path = cache_dir / f"{key}.bin", cache_dir / f"{key}.json"
    dtype = np.uint16 if len(tokenizer) < 2**16 else np.uint32
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("complete") and path.stat().st_size == meta["tokens"] * np.dtype(meta["dtype"]).itemsize:
            return TokenStream(np.memmap(path, dtype=meta["dtype"], mode="r"), start_id, path)

    backend = tokenizer.backend_tokenizer

    def encode(batch, indices):
        # each document as the tokenizer frames it ("[CLS] text [SEP]", "<s> text"), plus SEP/EOS when
        # the frame does not end one, so the model sees document starts and ends inside segments
        texts = [check_text(t, i) for t, i in zip(batch[TEXT], indices)]
        out = []
        for e in backend.encode_batch(texts, add_special_tokens=True):
            out.append(e.ids if e.ids and e.ids[-1] == sep_id else e.ids + [sep_id])
        return {"ids": out}

    encoded = corpus.map(encode, batched=True, batch_size=batch_size, with_indices=True, num_proc=num_proc,
                         remove_columns=corpus.column_names, desc="tokenizing")
    # flatten the list column through Arrow, chunk by chunk (no Python loop over documents)
    chunks = [pc.list_flatten(c).to_numpy(zero_copy_only=False) for c in encoded.with_format("arrow")["ids"].chunks]
    total = int(sum(len(c) for c in chunks))
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{key}.", suffix=".tmp")
    os.close(fd)
    try:
        out = np.memmap(tmp, dtype=dtype, mode="w+", shape=(max(total, 1),))
        pos = 0
        for c in chunks:
            out[pos : pos + len(c)] = c
            pos += len(c)
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    meta_path.write_text(json.dumps({"tokens": total, "dtype": np.dtype(dtype).name, "complete": True,
                                     "documents": len(corpus)}))
    return TokenStream(np.memmap(path, dtype=dtype, mode="r", shape=(total,)), start_id, path)


@lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, num_segments: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(num_segments)


def global_batch_indices(step: int, batch_size: int, num_segments: int, seed: int) -> np.ndarray:
    """Segment indices of the global batch at ``step``: a fresh permutation each epoch (seeded by
    ``seed`` and the epoch), so the data position is a pure function of the step."""
    if num_segments < 1:
        raise ValueError("the corpus is too short for even one training segment")
    first = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(first + len(out), num_segments)
        order = _epoch_order(seed, epoch, num_segments)
        take = min(batch_size - len(out), num_segments - offset)
        out.extend(order[offset : offset + take].tolist())
    return np.asarray(out, dtype=np.int64)

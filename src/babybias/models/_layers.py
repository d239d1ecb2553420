"""Building blocks shared by LTG-BERT and GPT-BERT (Samuel et al. 2023; Charpentier & Samuel 2024).

Written from the papers' equations and the reference code's maths (ltgoslo/ltg-bert,
ltgoslo/gpt-bert), batch-first. The disentangled relative-position attention is

    score(q, k) = (Q_q·K_k + Q_q·Kpos[b(q−k)] + K_k·Qpos[b(q−k)]) / sqrt(3·d_head)

where Qpos/Kpos are the shared ``qk`` projection of a small table of relative-position
embeddings and b(·) the log-bucket function below. How the projected table rows [R, 2D] become
per-head Qpos/Kpos is ``config.position_qk_split`` (see :data:`POSITION_QK_SPLITS`). Two
implementations:

* ``"eager"`` — the obvious one: materialise Qpos/Kpos for every (q, k) pair, sum the three
  terms, mask, softmax. Kept as the reference the fast path is tested against.
* ``"sdpa"`` — the position terms become a [B, H, T, T] additive bias (:func:`relative_position_bias`)
  and attention runs through ``torch.nn.functional.scaled_dot_product_attention``; no [T, T, 2D]
  tensor is built. On the CPU the bias is gathered from the products against the 2·bucket−1 table
  rows. On a GPU that gather's backward is an atomic scatter-add of T² gradients into 63 buckets,
  which took most of a compiled LTG-BERT base step on an H200 (docs/benchmarks.md); there the
  products are taken against the rows of every relative offset −(T−1) … T−1 (2T columns, one unused
  so the product stays aligned) and put in place by Transformer-XL's relative shift, a slice and a
  view (:func:`relative_shift`), whose backward is a plain copy. Both give the same numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig
from transformers import initialization as init


POSITION_QK_SPLITS = ("split_then_heads", "heads_then_split")
"""How ``qk_proj(relative_table)`` ([R, 2D]) is cut into per-head Qpos/Kpos ([R, H, d] each):

* ``"split_then_heads"`` — first D columns are Qpos, last D are Kpos, each then reshaped into
  H heads (``chunk(2, -1)`` then ``view(R, H, d)``). The training code (ltgoslo/ltg-bert
  ``model.py``, ltgoslo/gpt-bert) and every model built in babybias.
* ``"heads_then_split"`` — reshaped into H blocks of 2d first, each block's first d columns are
  that head's Qpos, the next d its Kpos (``view(R, H, 2d).chunk(2, -1)``). The
  ``modeling_ltgbert.py`` published with the hub LTG-BERT checkpoints (``ltg/ltg-bert-babylm``,
  ``babylm/ltgbert-{10,100}m-2024``); same weights, different function.
"""


def log_bucket_position(relative: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """Bucket relative positions: exact for |r| ≤ bucket_size/2, log-spaced up to ``max_position``.

    With bucket_size 32 and max_position 512: |r| = 20 → 17, 64 → 23, 127 → 25, ≥ 511 → 31
    (sign kept). The result lies in [−(bucket_size−1), bucket_size−1].
    """
    sign = torch.sign(relative)
    mid = bucket_size // 2
    abs_pos = torch.where((relative < mid) & (relative > -mid), mid - 1, relative.abs().clamp(max=max_position - 1))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / math.log((max_position - 1) / mid) * (mid - 1)).int() + mid
    return torch.where(abs_pos <= mid, relative, log_pos * sign).long()


def relative_position_indices(length: int, bucket_size: int, max_position: int, device=None) -> torch.Tensor:
    """[T, T] row indices into the relative-embedding table: bucket(q − k) + bucket_size − 1."""
    pos = torch.arange(length, device=device)
    return log_bucket_position(pos[:, None] - pos[None, :], bucket_size, max_position) + bucket_size - 1


def offset_rows(position_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows of the relative offsets, read off the [T, T] ``position_indices``: ``rows[c]`` is the row of
    q − k = T − 1 − c and ``flipped[c]`` that of q − k = c − (T − 1), for c = 0 … 2T − 2, plus one unused
    last entry (2T in all, so products against them stay aligned)."""
    first, last = position_indices[0], position_indices[-1]
    rows = torch.cat([last, first[1:], first[:1]])
    flipped = torch.cat([first.flip(0), position_indices[1:, 0], position_indices[:1, 0]])
    return rows, flipped


def relative_shift(full: torch.Tensor) -> torch.Tensor:
    """[..., T, W] (column c = offset T − 1 − c from each row's position, W ≥ 2T − 1) → [..., T, T] with
    ``out[i, j] = full[i, j − i + T − 1]``: Transformer-XL's shift as a slice and a view (no gather)."""
    *lead, t, w = full.shape
    flat = full.reshape(*lead, t * w)
    return flat[..., t - 1: t - 1 + t * (w - 1)].view(*lead, t, w - 1)[..., :t]


def attention_mask_bias(
    padding_mask: torch.Tensor | None,
    batch: int,
    length: int,
    dtype: torch.dtype,
    device,
    causal: bool = False,
    document_ids: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Boolean [B, 1, T, T] "may attend" mask from a [B, T] padding mask (1 = real token),
    optionally causal and block-diagonal over ``document_ids`` (packed documents). None = all."""
    allowed = None
    if padding_mask is not None:
        allowed = padding_mask.bool()[:, None, None, :].expand(batch, 1, length, length)
    if causal:
        tri = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]
        allowed = tri if allowed is None else allowed & tri
    if document_ids is not None:
        same = (document_ids[:, :, None] == document_ids[:, None, :])[:, None]
        allowed = same if allowed is None else allowed & same
    if allowed is not None:
        # a query row with no allowed key (a padding query under causal/document masks) attends
        # to itself only, so no row is all -inf (which would give NaN)
        eye = torch.eye(length, dtype=torch.bool, device=device)[None, None]
        allowed = allowed | (eye & ~allowed.any(-1, keepdim=True))
    return allowed


def relative_position_bias(query: torch.Tensor, key: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor,
                           position_indices: torch.Tensor, shift: bool) -> torch.Tensor:
    """Q_q·Kpos[b(q−k)] + K_k·Qpos[b(q−k)] as a [B, H, T, T] tensor (unscaled): gathered by bucket, or with
    ``shift`` from the products against every offset's row put in place by :func:`relative_shift`."""
    if not shift:
        batch, heads, length, _ = query.shape
        idx = position_indices[None, None].expand(batch, heads, length, length)
        c2p = torch.einsum("bhqd,rhd->bhqr", query, key_pos).gather(3, idx)  # Q_q · Kpos[b(q-k)]
        p2c = torch.einsum("bhkd,rhd->bhrk", key, query_pos).gather(2, idx)  # K_k · Qpos[b(q-k)]
        return c2p + p2c
    rows, flipped = offset_rows(position_indices)
    # Q_q · Kpos[b(q-k)]: column c of the product is offset q - k = T - 1 - c, shifted into place
    c2p = relative_shift(torch.einsum("bhqd,chd->bhqc", query, key_pos[rows]))
    # K_k · Qpos[b(q-k)]: per key k, column c is offset q - k = c - (T - 1); shifted, then transposed
    p2c = relative_shift(torch.einsum("bhkd,chd->bhkc", key, query_pos[flipped])).transpose(-1, -2)
    return c2p + p2c


def relative_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    query_pos: torch.Tensor,
    key_pos: torch.Tensor,
    position_indices: torch.Tensor,
    allowed: torch.Tensor | None,
    dropout: float,
    implementation: str,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Disentangled attention. q/k/v: [B, H, T, d]; query_pos/key_pos: [R, H, d] table rows;
    position_indices: [T, T]; allowed: bool [B, 1, T, T] or None. Returns ([B, H, T, d], probs or None)."""
    head_size = query.shape[-1]
    scale = 1.0 / math.sqrt(3 * head_size)
    if implementation == "eager":
        kpos = key_pos[position_indices]  # [T, T, H, d]
        qpos = query_pos[position_indices]
        scores = query @ key.transpose(-1, -2)
        scores = scores + torch.einsum("bhqd,qkhd->bhqk", query, kpos)
        scores = scores + torch.einsum("bhkd,qkhd->bhqk", key, qpos)
        scores = scores * scale
        if allowed is not None:
            scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores.float(), dim=-1).to(value.dtype)
        probs = F.dropout(probs, p=dropout)
        return probs @ value, probs
    if implementation != "sdpa":
        raise ValueError(f"attention implementation must be 'eager' or 'sdpa', got {implementation!r}")
    bias = relative_position_bias(query, key, query_pos, key_pos, position_indices, shift=query.is_cuda) * scale
    if allowed is not None:
        bias = bias.masked_fill(~allowed, float("-inf"))
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias.to(query.dtype), dropout_p=dropout, scale=scale)
    return out, None


class RelativeEmbeddings(nn.Module):
    """Word embedding → non-affine LayerNorm → dropout; plus the affine-normalised relative table."""

    def __init__(self, vocab_size: int, hidden_size: int, bucket_size: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size)
        self.word_norm = nn.LayerNorm(hidden_size, eps=eps, elementwise_affine=False)
        self.dropout = nn.Dropout(dropout)
        self.relative_embeddings = nn.Parameter(torch.empty(2 * bucket_size - 1, hidden_size))
        self.relative_norm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dropout(self.word_norm(self.word_embeddings(input_ids))), self.relative_norm(self.relative_embeddings)


class GegluFeedForward(nn.Module):
    """Non-affine LN → Linear D→2I → GEGLU (tanh-GELU gate on the second half) → non-affine LN → Linear I→D → dropout."""

    def __init__(self, hidden_size: int, intermediate_size: int, eps: float, dropout: float, init_scale: float = 1.0) -> None:
        super().__init__()
        self.pre_norm = nn.LayerNorm(hidden_size, eps=eps, elementwise_affine=False)
        self.up_proj = nn.Linear(hidden_size, 2 * intermediate_size, bias=False)
        self.mid_norm = nn.LayerNorm(intermediate_size, eps=eps, elementwise_affine=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.up_proj.init_scale = self.down_proj.init_scale = init_scale  # depth scaling sqrt(1/(2(l+1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.up_proj(self.pre_norm(x)).chunk(2, dim=-1)
        return self.dropout(self.down_proj(self.mid_norm(h * F.gelu(gate, approximate="tanh"))))


class MaskedLMHead(nn.Module):
    """Non-affine LN → Linear → GELU → non-affine LN → dropout → Linear tied to the word embedding (own bias)."""

    def __init__(self, hidden_size: int, vocab_size: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.pre_norm = nn.LayerNorm(hidden_size, eps=eps, elementwise_affine=False)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.post_norm = nn.LayerNorm(hidden_size, eps=eps, elementwise_affine=False)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.dropout(self.post_norm(F.gelu(self.dense(self.pre_norm(hidden))))))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, T, D] → [B, H, T, D/H]."""
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, T, d] → [B, T, H·d]."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def truncated_normal_std(hidden_size: int) -> float:
    """The LTG initialisation: std sqrt(2 / (5·D)), truncated at ±2 std."""
    return math.sqrt(2.0 / (5.0 * hidden_size))


def set_attention_implementation(model: nn.Module, implementation: str) -> None:
    """Set ``implementation`` on the config and on every module that has one."""
    if implementation not in ("eager", "sdpa"):
        raise ValueError(f"attention implementation must be 'eager' or 'sdpa', got {implementation!r}")
    model.config.attention_implementation = implementation
    for module in model.modules():
        if hasattr(module, "implementation"):
            module.implementation = implementation


def init_ltg_weights(module: nn.Module, hidden_size: int) -> None:
    """The LTG initialisation: truncated normal (std sqrt(2/(5D)), ±2 std) for every weight and
    the relative table, times a module's ``init_scale`` (feed-forward depth scaling); zero biases;
    affine LayerNorms at 1/0. Uses ``transformers.initialization`` so loaded weights are kept."""
    std = truncated_normal_std(hidden_size)
    if isinstance(module, (nn.Linear, nn.Embedding)):
        s = std * getattr(module, "init_scale", 1.0)
        init.trunc_normal_(module.weight, mean=0.0, std=s, a=-2 * s, b=2 * s)
        if getattr(module, "bias", None) is not None:
            init.zeros_(module.bias)
    elif isinstance(module, RelativeEmbeddings):
        init.trunc_normal_(module.relative_embeddings, mean=0.0, std=std, a=-2 * std, b=2 * std)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        init.ones_(module.weight)
        init.zeros_(module.bias)


class RelativeTransformerConfig(PretrainedConfig):
    """Fields and validation shared by the LTG-BERT and GPT-BERT configs; subclasses set
    ``model_type``, their defaults and ``sizes`` (named presets for :meth:`named`)."""

    sizes = {}  # name -> field overrides (a plain class attribute: PretrainedConfig is a dataclass)

    def __init__(
        self,
        vocab_size: int = 16384,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 2048,
        max_position_embeddings: int = 512,
        position_bucket_size: int = 32,
        layer_norm_eps: float = 1e-7,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        attention_implementation: str = "sdpa",
        position_qk_split: str = "split_then_heads",
        **kwargs,
    ) -> None:
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}")
        if attention_implementation not in ("eager", "sdpa"):
            raise ValueError(f"attention_implementation must be 'eager' or 'sdpa', got {attention_implementation!r}")
        if position_qk_split not in POSITION_QK_SPLITS:
            raise ValueError(f"position_qk_split must be one of {POSITION_QK_SPLITS}, got {position_qk_split!r}")
        if position_bucket_size < 2 or max_position_embeddings <= position_bucket_size // 2:
            raise ValueError("need position_bucket_size >= 2 and max_position_embeddings > position_bucket_size / 2")
        for name, p in (("hidden_dropout_prob", hidden_dropout_prob), ("attention_probs_dropout_prob", attention_probs_dropout_prob)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.position_bucket_size = position_bucket_size
        self.layer_norm_eps = layer_norm_eps
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.attention_implementation = attention_implementation
        self.position_qk_split = position_qk_split
        kwargs.setdefault("tie_word_embeddings", True)
        super().__init__(**kwargs)

    @classmethod
    def named(cls, name: str, **overrides):
        """A config of one of the named sizes in ``cls.sizes``, with ``overrides`` applied."""
        if name not in cls.sizes:
            raise KeyError(f"unknown {cls.model_type} size {name!r}; known: {sorted(cls.sizes)}")
        return cls(**{**cls.sizes[name], **overrides})


class RelativeSelfAttention(nn.Module):
    """The shared part of both attention blocks: non-affine pre-norm, ``qk_proj`` for content and
    positions, relative attention over heads. Subclasses add the value path and the output."""

    def __init__(self, config: RelativeTransformerConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.pre_norm = nn.LayerNorm(d, eps=config.layer_norm_eps, elementwise_affine=False)
        self.qk_proj = nn.Linear(d, 2 * d)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.implementation = config.attention_implementation
        self.position_qk_split = config.position_qk_split

    def position_query_key(self, relative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-head position queries and keys ([R, H, d] each) from the normalised table ([R, D]),
        cut as ``config.position_qk_split`` says (see :data:`POSITION_QK_SPLITS`)."""
        rel = self.qk_proj(F.dropout(relative, self.attention_dropout, self.training))  # [R, 2D]
        rows = rel.shape[0]
        if self.position_qk_split == "split_then_heads":
            query_pos, key_pos = (t.reshape(rows, self.num_heads, -1) for t in rel.chunk(2, dim=-1))
        elif self.position_qk_split == "heads_then_split":
            query_pos, key_pos = rel.view(rows, self.num_heads, -1).chunk(2, dim=-1)
        else:
            raise ValueError(f"position_qk_split must be one of {POSITION_QK_SPLITS}, got {self.position_qk_split!r}")
        return query_pos, key_pos

    def attend(self, h, value, relative, position_indices, allowed, output_attentions: bool = False):
        """Attention of the normalised input ``h`` over ``value`` ([B, T, D]); returns ([B, T, D], probs or None)."""
        query, key = self.qk_proj(h).chunk(2, dim=-1)
        query_pos, key_pos = self.position_query_key(relative)
        context, probs = relative_attention(
            split_heads(query, self.num_heads), split_heads(key, self.num_heads), split_heads(value, self.num_heads),
            query_pos, key_pos, position_indices, allowed, self.attention_dropout if self.training else 0.0,
            "eager" if output_attentions else self.implementation)
        return merge_heads(context), probs

"""GPT-BERT (Charpentier & Samuel 2024): one set of weights trained as a causal and a masked LM.

Both objectives share one head through *masked next-token prediction*: the hidden state at
position t predicts the token at t+1, whether the attention is causal (GPT mode) or
bidirectional with masked inputs (BERT mode). The architecture extends LTG-BERT with gated
attention (value and GELU gate from one ``vg`` projection, non-affine LayerNorm before the output
projection) and depth-weighted averaging (DWA) of all earlier sub-layer outputs. Maths from
ltgoslo/gpt-bert ``model_extra.py``; independent batch-first implementation.

* :class:`GptBertForCausalLM` — causal attention; ``logits[:, t]`` scores token t+1 (the usual
  ``transformers`` causal-LM convention; labels are shifted inside).
* :class:`GptBertForMaskedLM` — bidirectional attention; the logits are shifted right by one so
  that ``logits[:, t]`` scores the token *at* t, as for any masked LM (position 0, the BOS
  token, has no prediction and gets zero logits).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput, MaskedLMOutput

from ._layers import (GegluFeedForward, MaskedLMHead, RelativeEmbeddings, attention_mask_bias, init_ltg_weights,
                      merge_heads, relative_attention, relative_position_indices, set_attention_implementation, split_heads)

GPT_BERT_SIZES = {
    # name: (hidden, layers, heads, intermediate, vocab)
    "gpt-bert-small": (384, 12, 6, 1280, 8192),
    "gpt-bert-base": (768, 12, 12, 2560, 16384),
}


class GptBertConfig(PretrainedConfig):
    """Configuration of a GPT-BERT model; ``GptBertConfig.named("gpt-bert-base")`` gives the released sizes."""

    model_type = "gpt-bert"

    def __init__(
        self,
        vocab_size: int = 16384,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 2560,
        max_position_embeddings: int = 512,
        position_bucket_size: int = 32,
        layer_norm_eps: float = 1e-5,
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        attention_implementation: str = "sdpa",
        pad_token_id: int | None = 3,
        bos_token_id: int | None = 1,
        eos_token_id: int | None = 2,
        **kwargs,
    ) -> None:
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads {num_attention_heads}")
        if attention_implementation not in ("eager", "sdpa"):
            raise ValueError(f"attention_implementation must be 'eager' or 'sdpa', got {attention_implementation!r}")
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
        kwargs.setdefault("tie_word_embeddings", True)
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)

    @classmethod
    def named(cls, name: str, **overrides) -> "GptBertConfig":
        """``gpt-bert-small`` (384/12/6, I=1280, vocab 8192) or ``gpt-bert-base`` (768/12/12, I=2560, vocab 16384)."""
        if name not in GPT_BERT_SIZES:
            raise KeyError(f"unknown GPT-BERT size {name!r}; known: {sorted(GPT_BERT_SIZES)}")
        hidden, layers, heads, inter, vocab = GPT_BERT_SIZES[name]
        return cls(**{"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                      "intermediate_size": inter, "vocab_size": vocab, **overrides})


class GptBertAttention(nn.Module):
    """Non-affine LN → q,k (``qk_proj``), value and GELU gate (``vg_proj``) → relative attention
    → context·gate → non-affine LN → out_proj → dropout."""

    def __init__(self, config: GptBertConfig) -> None:
        super().__init__()
        d, eps = config.hidden_size, config.layer_norm_eps
        self.num_heads = config.num_attention_heads
        self.pre_norm = nn.LayerNorm(d, eps=eps, elementwise_affine=False)
        self.qk_proj = nn.Linear(d, 2 * d)
        self.vg_proj = nn.Linear(d, 2 * d)
        self.post_norm = nn.LayerNorm(d, eps=eps, elementwise_affine=False)
        self.out_proj = nn.Linear(d, d)
        self.attention_dropout = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.implementation = config.attention_implementation

    def forward(self, x, relative, position_indices, allowed, output_attentions: bool = False):
        h = self.pre_norm(x)
        query, key = self.qk_proj(h).chunk(2, dim=-1)
        value, gate = self.vg_proj(h).chunk(2, dim=-1)
        rel = self.qk_proj(F.dropout(relative, self.attention_dropout, self.training))
        query_pos, key_pos = (t.view(t.shape[0], self.num_heads, -1) for t in rel.chunk(2, dim=-1))
        impl = "eager" if output_attentions else self.implementation
        context, probs = relative_attention(
            split_heads(query, self.num_heads), split_heads(key, self.num_heads), split_heads(value, self.num_heads),
            query_pos, key_pos, position_indices, allowed, self.attention_dropout if self.training else 0.0, impl)
        context = merge_heads(context) * F.gelu(gate)
        return self.dropout(self.out_proj(self.post_norm(context))), probs


class DepthWeightedAverage(nn.Module):
    """After sub-layer i (2 per transformer layer), replace the stream by a learned weighted sum of
    the embedding output and every sub-layer output so far; initialised to pass the newest through."""

    def __init__(self, num_sublayers: int) -> None:
        super().__init__()
        self.alphas = nn.ParameterList([nn.Parameter(torch.zeros(i + 2)) for i in range(num_sublayers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for alpha in self.alphas:
                alpha.zero_()
                alpha[-1] = 1.0

    def forward(self, outputs: list[torch.Tensor], index: int) -> torch.Tensor:
        alpha = self.alphas[index].to(outputs[0].dtype)
        if len(outputs) != alpha.numel():
            raise ValueError(f"DWA step {index} expects {alpha.numel()} outputs, got {len(outputs)}")
        mixed = alpha[0] * outputs[0]
        for a, out in zip(alpha[1:], outputs[1:]):
            mixed = mixed + a * out
        return mixed


class GptBertPreTrainedModel(PreTrainedModel):
    config_class = GptBertConfig
    base_model_prefix = "gpt_bert"
    supports_gradient_checkpointing = False
    _no_split_modules = ["GptBertAttention", "GegluFeedForward"]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, DepthWeightedAverage):
            for alpha in module.alphas:
                if not getattr(alpha, "_is_hf_initialized", False):
                    with torch.no_grad():
                        alpha.zero_()
                        alpha[-1] = 1.0
        else:
            init_ltg_weights(module, self.config.hidden_size)

    def set_attention_implementation(self, implementation: str) -> None:
        """Switch every attention block between ``"sdpa"`` (fast) and ``"eager"`` (reference) maths."""
        set_attention_implementation(self, implementation)


class GptBertModel(GptBertPreTrainedModel):
    """The shared trunk. ``causal=True`` gives GPT-style attention; ``document_ids`` ([B, T] ints)
    makes the attention block-diagonal over packed documents."""

    def __init__(self, config: GptBertConfig) -> None:
        super().__init__(config)
        self.embeddings = RelativeEmbeddings(config.vocab_size, config.hidden_size, config.position_bucket_size,
                                             config.layer_norm_eps, config.hidden_dropout_prob)
        self.attention_layers = nn.ModuleList([GptBertAttention(config) for _ in range(config.num_hidden_layers)])
        self.mlp_layers = nn.ModuleList([
            GegluFeedForward(config.hidden_size, config.intermediate_size, config.layer_norm_eps, config.hidden_dropout_prob,
                             init_scale=math.sqrt(1.0 / (2.0 * (i + 1))))
            for i in range(config.num_hidden_layers)])
        self.dwa = DepthWeightedAverage(2 * config.num_hidden_layers)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        causal: bool = False,
        document_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        batch, length = input_ids.shape
        x, relative = self.embeddings(input_ids)
        positions = relative_position_indices(length, self.config.position_bucket_size,
                                              self.config.max_position_embeddings, input_ids.device)
        allowed = attention_mask_bias(attention_mask, batch, length, x.dtype, x.device, causal=causal, document_ids=document_ids)
        outputs = [x]
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for i, (attention, mlp) in enumerate(zip(self.attention_layers, self.mlp_layers)):
            attn, probs = attention(x, relative, positions, allowed, bool(output_attentions))
            outputs.append(x + attn)
            x = self.dwa(outputs, 2 * i)
            outputs.append(x + mlp(x))
            x = self.dwa(outputs, 2 * i + 1)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return BaseModelOutput(last_hidden_state=x, hidden_states=tuple(hidden_states) if hidden_states else None,
                               attentions=tuple(attentions) if attentions else None)


class _GptBertLM(GptBertPreTrainedModel):
    """Trunk + the shared tied head (``head(h_t)`` predicts token t+1)."""

    _tied_weights_keys = {"head.decoder.weight": "gpt_bert.embeddings.word_embeddings.weight"}

    def __init__(self, config: GptBertConfig) -> None:
        super().__init__(config)
        self.gpt_bert = GptBertModel(config)
        self.head = MaskedLMHead(config.hidden_size, config.vocab_size, config.layer_norm_eps, config.hidden_dropout_prob)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.head.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.head.decoder = value


class GptBertForCausalLM(_GptBertLM, GenerationMixin):
    """GPT mode: causal attention, ``logits[:, t]`` predicts token t+1; ``labels`` are the input ids
    (shifted inside, −100 ignored)."""

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        document_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CausalLMOutput:
        out = self.gpt_bert(input_ids, attention_mask, causal=True, document_ids=document_ids,
                            output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        logits = self.head(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
        return CausalLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        return {"input_ids": input_ids, "attention_mask": attention_mask}


class GptBertForMaskedLM(_GptBertLM):
    """BERT mode: bidirectional attention, logits shifted so ``logits[:, t]`` scores the token at t.

    With ``labels`` (the token at each masked position, −100 elsewhere) the head runs only on the
    states just before labelled positions and ``logits`` holds those rows, in order.
    """

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        document_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        out = self.gpt_bert(input_ids, attention_mask, causal=False, document_ids=document_ids,
                            output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        hidden = out.last_hidden_state
        loss = None
        if labels is not None:
            if (labels[:, 0] != -100).any():
                raise ValueError("GPT-BERT predicts token t from position t-1: position 0 cannot carry a masked-LM label")
            keep = (labels[:, 1:] != -100).flatten()
            logits = self.head(hidden[:, :-1].flatten(0, 1)[keep])
            loss = F.cross_entropy(logits.float(), labels[:, 1:].flatten()[keep])
        else:
            shifted = self.head(hidden[:, :-1])
            logits = torch.cat([shifted.new_zeros(shifted.shape[0], 1, shifted.shape[2]), shifted], dim=1)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)

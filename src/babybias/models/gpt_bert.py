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
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput, MaskedLMOutput, SequenceClassifierOutput

from ._layers import (GegluFeedForward, MaskedLMHead, RelativeEmbeddings, RelativeSelfAttention, RelativeTransformerConfig,
                      attention_mask_bias, init_ltg_weights, relative_position_indices, set_attention_implementation)

class GptBertConfig(RelativeTransformerConfig):
    """Configuration of a GPT-BERT model; ``GptBertConfig.named("gpt-bert-base")`` gives the released sizes
    (``gpt-bert-small`` 384/12/6, I=1280, vocab 8192; ``gpt-bert-base`` 768/12/12, I=2560, vocab 16384)."""

    model_type = "gpt-bert"
    sizes = {
        name: {"hidden_size": d, "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": inter,
               "vocab_size": vocab}
        for name, (d, layers, heads, inter, vocab) in {"gpt-bert-small": (384, 12, 6, 1280, 8192),
                                                       "gpt-bert-base": (768, 12, 12, 2560, 16384)}.items()
    }

    def __init__(self, intermediate_size: int = 2560, layer_norm_eps: float = 1e-5, pad_token_id: int | None = 3,
                 bos_token_id: int | None = 1, eos_token_id: int | None = 2, **kwargs) -> None:
        super().__init__(intermediate_size=intermediate_size, layer_norm_eps=layer_norm_eps, pad_token_id=pad_token_id,
                         bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)


class GptBertAttention(RelativeSelfAttention):
    """Non-affine LN → q,k (``qk_proj``), value and GELU gate (``vg_proj``) → relative attention
    → context·gate → non-affine LN → out_proj → dropout."""

    def __init__(self, config: GptBertConfig) -> None:
        super().__init__(config)
        d = config.hidden_size
        self.vg_proj = nn.Linear(d, 2 * d)
        self.post_norm = nn.LayerNorm(d, eps=config.layer_norm_eps, elementwise_affine=False)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, relative, position_indices, allowed, output_attentions: bool = False):
        h = self.pre_norm(x)
        value, gate = self.vg_proj(h).chunk(2, dim=-1)
        context, probs = self.attend(h, value, relative, position_indices, allowed, output_attentions)
        return self.dropout(self.out_proj(self.post_norm(context * F.gelu(gate)))), probs


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


class GptBertForSequenceClassification(GptBertPreTrainedModel):
    """Bidirectional trunk + a new classifier on the first position, as the released GPT-BERT's own
    ``GptBertForSequenceClassification`` (``sequence_output[:, 0]``) and :class:`LtgBertForSequenceClassification`:
    non-affine LN → Linear → GELU → non-affine LN → dropout → Linear. ``classifier_causal=True`` in the
    config reads the last non-padding position of a causal pass instead."""

    def __init__(self, config: GptBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.gpt_bert = GptBertModel(config)
        dropout = config.hidden_dropout_prob if getattr(config, "classifier_dropout", None) is None else config.classifier_dropout
        self.head = MaskedLMHead(config.hidden_size, config.num_labels, config.layer_norm_eps, dropout)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        from .ltg_bert import classification_loss

        causal = bool(getattr(self.config, "classifier_causal", False))
        out = self.gpt_bert(input_ids, attention_mask, causal=causal, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions)
        hidden = out.last_hidden_state
        if causal:
            last = (attention_mask.sum(1) - 1).clamp(min=0) if attention_mask is not None else torch.full(
                (hidden.shape[0],), hidden.shape[1] - 1, device=hidden.device)
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last.long()]
        else:
            pooled = hidden[:, 0]
        logits = self.head(pooled)
        loss = None if labels is None else classification_loss(self.config, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)

"""LTG-BERT (Samuel, Kutuzov, Øvrelid & Velldal 2023), the BabyLM "LTG-Baseline" architecture.

A pre-norm BERT with disentangled relative-position attention (no absolute positions),
GEGLU feed-forward blocks and post-attention affine LayerNorm. The maths follows
ltgoslo/ltg-bert ``babylm/train/model.py``; this is an independent, batch-first implementation
as a ``transformers`` model family: :class:`LtgBertConfig`, :class:`LtgBertModel`,
:class:`LtgBertForMaskedLM`, :class:`LtgBertForSequenceClassification`.
"""

from __future__ import annotations

import math
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput

from ._layers import (GegluFeedForward, MaskedLMHead, RelativeEmbeddings, RelativeSelfAttention, RelativeTransformerConfig,
                      attention_mask_bias, init_ltg_weights, relative_position_indices, set_attention_implementation)

class LtgBertConfig(RelativeTransformerConfig):
    """Configuration of an LTG-BERT model; ``LtgBertConfig.named("ltg-bert-base")`` gives the paper's sizes
    (``ltg-bert-xs`` 192/12/3/512, ``-small`` 384/12/6/1024, ``-base`` 768/12/12/2048; vocab 16384)."""

    model_type = "ltg-bert"
    sizes = {
        name: {"hidden_size": d, "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": inter}
        for name, (d, layers, heads, inter) in {"ltg-bert-xs": (192, 12, 3, 512), "ltg-bert-small": (384, 12, 6, 1024),
                                                "ltg-bert-base": (768, 12, 12, 2048)}.items()
    }

    def __init__(self, intermediate_size: int = 2048, layer_norm_eps: float = 1e-7, classifier_dropout: float | None = None,
                 pad_token_id: int | None = 3, **kwargs) -> None:
        self.classifier_dropout = classifier_dropout
        super().__init__(intermediate_size=intermediate_size, layer_norm_eps=layer_norm_eps, pad_token_id=pad_token_id, **kwargs)


class LtgBertAttention(RelativeSelfAttention):
    """Non-affine LN → q,k from ``qk_proj``, v from ``v_proj`` → relative attention → out_proj → affine LN → dropout."""

    def __init__(self, config: LtgBertConfig) -> None:
        super().__init__(config)
        d = config.hidden_size
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)
        self.post_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, x, relative, position_indices, allowed, output_attentions: bool = False):
        h = self.pre_norm(x)
        context, probs = self.attend(h, self.v_proj(h), relative, position_indices, allowed, output_attentions)
        return self.dropout(self.post_norm(self.out_proj(context))), probs


class LtgBertLayer(nn.Module):
    def __init__(self, config: LtgBertConfig, index: int) -> None:
        super().__init__()
        self.attention = LtgBertAttention(config)
        self.feed_forward = GegluFeedForward(config.hidden_size, config.intermediate_size, config.layer_norm_eps,
                                             config.hidden_dropout_prob, init_scale=math.sqrt(1.0 / (2.0 * (index + 1))))

    def forward(self, x, relative, position_indices, allowed, output_attentions: bool = False):
        attn, probs = self.attention(x, relative, position_indices, allowed, output_attentions)
        x = x + attn
        return x + self.feed_forward(x), probs


class LtgBertPreTrainedModel(PreTrainedModel):
    config_class = LtgBertConfig
    base_model_prefix = "ltg_bert"
    supports_gradient_checkpointing = True
    _no_split_modules = ["LtgBertLayer"]

    def set_attention_implementation(self, implementation: str) -> None:
        """Switch every attention block between ``"sdpa"`` (fast) and ``"eager"`` (reference) maths."""
        set_attention_implementation(self, implementation)

    def _init_weights(self, module: nn.Module) -> None:
        init_ltg_weights(module, self.config.hidden_size)


class LtgBertModel(LtgBertPreTrainedModel):
    """The encoder; returns the last hidden state (and all layers' with ``output_hidden_states``)."""

    def __init__(self, config: LtgBertConfig) -> None:
        super().__init__(config)
        self.embeddings = RelativeEmbeddings(config.vocab_size, config.hidden_size, config.position_bucket_size,
                                             config.layer_norm_eps, config.hidden_dropout_prob)
        self.layers = nn.ModuleList([LtgBertLayer(config, i) for i in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        batch, length = input_ids.shape
        x, relative = self.embeddings(input_ids)
        positions = relative_position_indices(length, self.config.position_bucket_size,
                                              self.config.max_position_embeddings, input_ids.device)
        allowed = attention_mask_bias(attention_mask, batch, length, x.dtype, x.device)
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                x, probs = torch.utils.checkpoint.checkpoint(layer, x, relative, positions, allowed, bool(output_attentions),
                                                             use_reentrant=False)
            else:
                x, probs = layer(x, relative, positions, allowed, bool(output_attentions))
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return BaseModelOutput(last_hidden_state=x, hidden_states=tuple(hidden_states) if hidden_states else None,
                               attentions=tuple(attentions) if attentions else None)


class LtgBertForMaskedLM(LtgBertPreTrainedModel):
    """Encoder + tied MLM head. With ``labels`` the head runs only at labelled positions
    (label ≠ −100) and ``logits`` holds just those rows, in order."""

    _tied_weights_keys = {"head.decoder.weight": "ltg_bert.embeddings.word_embeddings.weight"}

    def __init__(self, config: LtgBertConfig) -> None:
        super().__init__(config)
        self.ltg_bert = LtgBertModel(config)
        self.head = MaskedLMHead(config.hidden_size, config.vocab_size, config.layer_norm_eps, config.hidden_dropout_prob)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.head.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.head.decoder = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        out = self.ltg_bert(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions)
        hidden = out.last_hidden_state
        loss = None
        if labels is not None:
            keep = labels.flatten() != -100
            logits = self.head(hidden.flatten(0, 1)[keep])
            loss = F.cross_entropy(logits.float(), labels.flatten()[keep])
        else:
            logits = self.head(hidden)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


class LtgBertForSequenceClassification(LtgBertPreTrainedModel):
    """Encoder + classifier on the first token: non-affine LN → Linear → GELU → non-affine LN → dropout → Linear."""

    def __init__(self, config: LtgBertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.ltg_bert = LtgBertModel(config)
        dropout = config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout
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
        out = self.ltg_bert(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions)
        logits = self.head(out.last_hidden_state[:, 0])
        loss = None if labels is None else classification_loss(self.config, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions)


def classification_loss(config: PretrainedConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The ``transformers`` convention: regression for one label, cross-entropy for integer labels, else BCE."""
    problem = config.problem_type
    if problem is None:
        problem = ("regression" if config.num_labels == 1 else
                   "single_label_classification" if labels.dtype in (torch.long, torch.int) else "multi_label_classification")
    if problem == "regression":
        return F.mse_loss(logits.squeeze(-1).float(), labels.float().view(-1)) if config.num_labels == 1 else F.mse_loss(logits.float(), labels.float())
    if problem == "single_label_classification":
        return F.cross_entropy(logits.float().view(-1, config.num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())

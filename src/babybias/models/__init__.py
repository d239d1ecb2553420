"""BabyLM architectures as ``transformers`` models, registered with the Auto classes on import; the one
loader of a saved model (:func:`load_lm`, :func:`lm_kind`) and the LM head's projection (:mod:`.projection`).

>>> from transformers import AutoModelForMaskedLM
>>> from babybias.models import LtgBertConfig
>>> model = AutoModelForMaskedLM.from_config(LtgBertConfig.named("ltg-bert-xs", vocab_size=1000))
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSequenceClassification

from .gpt_bert import GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM, GptBertForSequenceClassification, GptBertModel
from .ltg_bert import LtgBertConfig, LtgBertForMaskedLM, LtgBertForSequenceClassification, LtgBertModel
from .flops import H200_BF16_PEAK_TFLOPS, mfu, training_flops_per_token
from .tokenizer import train_tokenizer
from .projection import (HEAD_NAMES, attach_projection, detach_projection, hidden_size, lm_head,
                         projection_of, projection_record, read_projection, restore_projection, save_projection)
from .loading import (SAVED_WRAPPERS, LMKindError, LoadError, MissingTokenizerError, debias_files, lm_kind, lm_kind_reason,
                      load_lm, load_pretrained, load_tokenizer, model_class, read_config, save_lm, wrapper_files)

AutoConfig.register(LtgBertConfig.model_type, LtgBertConfig, exist_ok=True)
AutoModel.register(LtgBertConfig, LtgBertModel, exist_ok=True)
AutoModelForMaskedLM.register(LtgBertConfig, LtgBertForMaskedLM, exist_ok=True)
AutoModelForSequenceClassification.register(LtgBertConfig, LtgBertForSequenceClassification, exist_ok=True)
AutoConfig.register(GptBertConfig.model_type, GptBertConfig, exist_ok=True)
AutoModel.register(GptBertConfig, GptBertModel, exist_ok=True)
AutoModelForMaskedLM.register(GptBertConfig, GptBertForMaskedLM, exist_ok=True)
AutoModelForCausalLM.register(GptBertConfig, GptBertForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(GptBertConfig, GptBertForSequenceClassification, exist_ok=True)

__all__ = [
    "LtgBertConfig", "LtgBertModel", "LtgBertForMaskedLM", "LtgBertForSequenceClassification",
    "GptBertConfig", "GptBertModel", "GptBertForMaskedLM", "GptBertForCausalLM",
    "GptBertForSequenceClassification", "train_tokenizer", "training_flops_per_token", "mfu", "H200_BF16_PEAK_TFLOPS",
    "HEAD_NAMES", "attach_projection", "detach_projection", "hidden_size", "lm_head",
    "projection_of", "projection_record", "read_projection", "restore_projection", "save_projection",
    "SAVED_WRAPPERS", "LMKindError", "LoadError", "MissingTokenizerError", "debias_files", "lm_kind", "lm_kind_reason",
    "load_lm", "load_pretrained", "load_tokenizer", "model_class", "read_config", "save_lm", "wrapper_files",
]

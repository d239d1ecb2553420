"""BabyLM architectures as ``transformers`` models, registered with the Auto classes on import.

>>> from transformers import AutoModelForMaskedLM
>>> from babybias.models import LtgBertConfig
>>> model = AutoModelForMaskedLM.from_config(LtgBertConfig.named("ltg-bert-xs", vocab_size=1000))
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSequenceClassification

from .gpt_bert import GptBertConfig, GptBertForCausalLM, GptBertForMaskedLM, GptBertForSequenceClassification, GptBertModel
from .ltg_bert import LtgBertConfig, LtgBertForMaskedLM, LtgBertForSequenceClassification, LtgBertModel
from .flops import H200_BF16_PEAK_TFLOPS, mfu, training_flops_per_token
from .tokenizer import train_tokenizer

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
]

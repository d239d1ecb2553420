"""babybias: pre-training debiasing research on BabyLMs.

Modules: :mod:`babybias.evaluate` (bias and ability benchmarks for any masked or causal LM),
:mod:`babybias.models` (LTG-BERT and GPT-BERT as transformers models; importing babybias
registers them with the Auto classes).
"""

from . import models  # registers LTG-BERT and GPT-BERT with the transformers Auto classes

__version__ = "0.1.0"

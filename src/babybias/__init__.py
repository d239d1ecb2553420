"""babybias: pre-training debiasing research on BabyLMs.

Modules: :mod:`babybias.evaluate` (bias and ability benchmarks for any masked or causal LM).
"""

__version__ = "0.1.0"

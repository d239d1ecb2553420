"""Model FLOPs of LTG-BERT / GPT-BERT training: the one formula babybias reports MFU and GPU-hours with.

Per token of a sequence of length T, a training step (forward + backward = 3 × forward) costs

    FLOPs/token = 6·N_layers + 12·L·D·(T + R) + 6·N_head·f

* ``N_layers``: the weights of the layers' matrix products (LTG-BERT 4D² + 3DI per layer: qk 2D², v D²,
  out D², GEGLU up 2DI and down DI; GPT-BERT 5D² + 3DI: its value-and-gate projection is 2D²);
* ``12·L·D·T``: the attention scores Q·Kᵀ and the weighted sum of values (2·T·D each, forward);
* ``12·L·D·R``: the disentangled relative-position terms as the fast path computes them, each query
  against the R = 2·bucket − 1 position keys and each key against the R position queries (2·R·D each);
* ``N_head = D² + D·V``: the LM head (dense layer and tied decoder), run on the fraction ``f`` of the
  positions it scores (:meth:`babybias.train.TrainConfig.head_fraction`: the mask rate for masked LMs,
  1 for causal).

Not counted (each under 1 % at the recipes' sizes): embedding look-ups, LayerNorms, activations,
softmax, biases, GPT-BERT's depth-weighted averages, and the projection of the R-row position table
(R·2D² per layer, shared by the whole batch). Causal attention is counted in full, as is usual
(PaLM, nanoGPT). MFU = FLOPs/token × tokens/s ÷ the accelerator's peak.
"""

from __future__ import annotations

#: the bf16 dense matrix-product rate measured on this project's H200 (8192³ products, torch): the MFU peak.
H200_BF16_PEAK_TFLOPS = 790.0


def layer_matmul_params(config) -> int:
    """Weights of one transformer layer's matrix products (``config``: an LTG-BERT or GPT-BERT config)."""
    d, i = config.hidden_size, config.intermediate_size
    attention = 5 * d * d if config.model_type == "gpt-bert" else 4 * d * d
    return attention + 3 * d * i


def training_flops_per_token(config, seq_length: int, head_fraction: float) -> float:
    """Training FLOPs per token at ``seq_length`` with the head on ``head_fraction`` of positions (module docstring)."""
    if seq_length < 1 or not 0 <= head_fraction <= 1:
        raise ValueError(f"need seq_length >= 1 and head_fraction in [0, 1], got {seq_length} and {head_fraction}")
    layers, d = config.num_hidden_layers, config.hidden_size
    relative_rows = 2 * config.position_bucket_size - 1
    head = d * d + d * config.vocab_size
    return (6 * layers * layer_matmul_params(config) + 12 * layers * d * (seq_length + relative_rows)
            + 6 * head * head_fraction)


def mfu(flops_per_token: float, tokens_per_second: float, peak_tflops: float = H200_BF16_PEAK_TFLOPS) -> float:
    """Model FLOPs utilisation: the share (0–1) of ``peak_tflops`` that ``tokens_per_second`` achieves."""
    if peak_tflops <= 0:
        raise ValueError(f"peak_tflops must be > 0, got {peak_tflops}")
    return flops_per_token * tokens_per_second / (peak_tflops * 1e12)

"""Optimizers and learning-rate schedules of the BabyLM recipes."""

from __future__ import annotations

import math

import torch
from torch import nn


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al. 2020): Adam moments, decoupled weight decay, and a per-tensor trust ratio
    ||w|| / ||update|| scaling each step (1 when either norm is 0)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0):
        if lr <= 0 or eps <= 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid LAMB hyperparameters lr={lr} betas={betas} eps={eps}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        """One LAMB step; each operation runs once over all of a group's tensors (``torch._foreach_*``), which
        is the per-tensor maths with a few kernel launches instead of a dozen per tensor."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            states = [self.state[p] for p in params]
            for p, state in zip(params, states):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
            m, v = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
            torch._foreach_mul_(m, beta1)
            torch._foreach_add_(m, grads, alpha=1 - beta1)
            torch._foreach_mul_(v, beta2)
            torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
            m_hat = torch._foreach_div(m, [1 - beta1 ** s["step"] for s in states])
            v_hat = torch._foreach_div(v, [1 - beta2 ** s["step"] for s in states])
            torch._foreach_sqrt_(v_hat)
            torch._foreach_add_(v_hat, group["eps"])
            update = m_hat  # m_hat / (sqrt(v_hat) + eps), in place
            torch._foreach_div_(update, v_hat)
            if group["weight_decay"]:
                torch._foreach_add_(update, params, alpha=group["weight_decay"])
            w_norm, u_norm = torch.stack(torch._foreach_norm(params)), torch.stack(torch._foreach_norm(update))
            trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
            torch._foreach_mul_(update, list(trust.unbind()))
            torch._foreach_add_(params, update, alpha=-group["lr"])
        return loss


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices only: not on biases, LayerNorms, embeddings or the relative table."""
    decay, no_decay = [], []
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            skip = (name.endswith("bias") or isinstance(module, (nn.LayerNorm, nn.Embedding)) or p.ndim < 2
                    or "relative" in name)
            (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, total: int, warmup: int, decay: str = "cosine", min_ratio: float = 0.1) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine or linear decay to ``min_ratio`` at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if decay == "cosine":
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if decay == "linear":
        return 1 - (1 - min_ratio) * progress
    if decay == "constant":
        return 1.0
    raise ValueError(f"decay must be cosine, linear or constant, got {decay!r}")

"""The GPU path's correctness tests: each takes the device as a fixture.

``BABYBIAS_TEST_DEVICE`` picks it (default ``cuda``: skipped without CUDA, so the CPU suite skips them);
``BABYBIAS_TEST_DEVICE=cpu`` runs the same tests on the CPU at toy size (``benchmarks/gpu_acceptance.py
--device cpu --quick`` does). On CUDA they run at small-model size with deterministic kernels, so a
resumed or a torchrun run can be compared bit for bit.
"""

from __future__ import annotations

import os
import pytest

DEVICE = os.environ.get("BABYBIAS_TEST_DEVICE", "cuda")
if DEVICE.startswith("cuda"):
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS; read when CUDA starts

import torch  # noqa: E402

from ._train_run import SIZES, Size  # noqa: E402


TOY, GPU = SIZES["toy"], SIZES["gpu"]


@pytest.fixture(scope="session")
def device() -> torch.device:
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("needs CUDA (BABYBIAS_TEST_DEVICE=cpu runs these tests on the CPU at toy size)")
    if DEVICE.startswith("cuda"):
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.device(DEVICE)


@pytest.fixture(scope="session")
def size(device) -> Size:  # noqa: F811
    return GPU if device.type == "cuda" else TOY


@pytest.fixture(scope="session")
def compile_backend(device) -> str:
    """Inductor on CUDA; ``aot_eager`` on the CPU, whose C++ inductor build takes about a minute a graph."""
    return "inductor" if device.type == "cuda" else "aot_eager"

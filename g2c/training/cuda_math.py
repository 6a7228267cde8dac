"""How a run's float math behaves on the device: TF32 matmuls on CUDA, and determinism.

**TF32.** Since Ampere, tensor cores multiply fp32 matrices as TF32 (fp32's
exponent, 10 mantissa bits, fp32 sums): up to ~8x the speed for an error
(~1e-3 relative per product) training does not notice. PyTorch leaves it off;
a run on CUDA turns it on for fp32 matmuls.

**Determinism.** GPU kernels that add with atomics, and per-run algorithm
choices, make two runs differ in the last bits. ``deterministic=True`` asks
for deterministic kernels (an error names an op that has none), a fixed
cuBLAS workspace and no cuDNN benchmarking, so ``--resume`` on a GPU repeats
an unbroken run exactly. It costs speed, so it is off by default.
"""

from __future__ import annotations

import os

import torch

from g2c.validation import require_bool

# The cuBLAS setting PyTorch documents for deterministic matmuls (":16:8" uses less memory).
CUBLAS_WORKSPACE = ":4096:8"


def configure_math(device: torch.device | str, *, deterministic: bool) -> dict:
    """Set this process's float-math policy for a run on ``device`` (before the first CUDA
    matmul); return what holds now: ``{"tf32": bool, "deterministic": bool}``."""
    require_bool("deterministic", deterministic)
    on_cuda = torch.device(device).type == "cuda"
    if on_cuda:
        torch.backends.cuda.matmul.fp32_precision = "tf32"
    if deterministic:
        if on_cuda:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)
    return {"tf32": on_cuda and torch.backends.cuda.matmul.fp32_precision == "tf32",
            "deterministic": torch.are_deterministic_algorithms_enabled()}

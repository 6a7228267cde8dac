"""How a run's float math behaves on the device: TF32 matmuls on CUDA, and determinism.

**TF32.** Since Ampere (A100, RTX 30xx), NVIDIA tensor cores multiply fp32
matrices as TF32: each input keeps fp32's 8 exponent bits but only 10 mantissa
bits (bf16 has 7, fp32 23), and products are summed in fp32. That is up to ~8x
the fp32 matmul speed for an error (~1e-3 relative per product) far below what
training notices; PyTorch leaves it off by default. A run on CUDA turns it on
for fp32 matmuls (``torch.backends.cuda.matmul.fp32_precision = "tf32"``) —
what fp32 runs and the fp32 parts of mixed-precision runs use. bf16/fp16
matmuls are unaffected.

**Determinism.** Two runs of the same program on a GPU can differ in the last
bits: some kernels add partial results with atomic operations in whatever
order threads finish, and cuDNN/cuBLAS may pick different algorithms per run.
``deterministic=True`` asks for bit-identical results, which is what lets
``--resume`` on a GPU repeat an unbroken run exactly:

    torch.use_deterministic_algorithms(True)   deterministic kernels, or an error
                                               naming the op that has none
    CUBLAS_WORKSPACE_CONFIG=:4096:8            cuBLAS needs a fixed workspace to be
                                               deterministic (read at its first use)
    cudnn.deterministic, not cudnn.benchmark   no run-to-run algorithm choice

It costs speed, so it is off by default. On a CPU, PyTorch's kernels are
already deterministic for a fixed thread count; the switch still applies.

    math = configure_math(torch.device("cuda"), deterministic=False)
    math == {"tf32": True, "deterministic": False}      # for the run's manifest
"""

from __future__ import annotations

import os

import torch

# The cuBLAS setting PyTorch documents for deterministic matmuls (":16:8" uses less memory).
CUBLAS_WORKSPACE = ":4096:8"


def configure_math(device: torch.device | str, *, deterministic: bool) -> dict:
    """Set this process's float-math policy for a run on ``device``; return what holds now.

    Call it before the first CUDA matmul (cuBLAS reads its workspace setting
    once). The settings are process-wide; the returned ``{"tf32": bool,
    "deterministic": bool}`` reads them back.
    """
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be True or False; got {deterministic!r}")
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

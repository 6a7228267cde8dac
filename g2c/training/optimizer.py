"""AdamW with decoupled weight decay on the weight matrices only.

Weight decay pulls every decayed parameter a little towards zero at each
step: ``w <- w - lr · weight_decay · w``, applied *beside* the Adam update
rather than added to the gradient (that is the "decoupled" in AdamW — the
shrinkage is not rescaled by Adam's per-parameter step sizes).

Which parameters it makes sense for:

* matrices (2-D: linear weights, the token embedding) — decayed: shrinking
  them limits how sharp the learned function can get;
* vectors (1-D: biases, LayerNorm/RMSNorm gains and shifts, the output bias)
  — not decayed: they only shift or rescale, and pulling a norm's gain to 0
  would switch its layer off.

The rule "decay iff ``param.ndim >= 2``" sorts them without a list of names.
"""

from __future__ import annotations

import torch
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: ``[{decayed matrices}, {undecayed vectors, weight_decay=0}]``."""
    decayed, undecayed = [], []
    for param in model.parameters():  # shared (tied) parameters are listed once
        if param.requires_grad:
            (decayed if param.ndim >= 2 else undecayed).append(param)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]


def build_adamw(
    model: nn.Module,
    *,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float],
    device: torch.device,
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups`, fused into one kernel where PyTorch has one.

    ``fused=True`` updates all parameters in a few vectorised passes instead
    of a Python loop over tensors — on a small model the loop would cost as
    much as the maths. PyTorch provides fused AdamW for CPU and CUDA.
    """
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(
        parameter_groups(model, weight_decay), lr=learning_rate, betas=betas, fused=fused or None
    )

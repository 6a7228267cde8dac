"""The optimizer: AdamW (default) or Muon + AdamW, decoupled weight decay on matrices only.

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

``optimizer="muon"`` (``muon.py``) moves the weights of every ``nn.Linear`` —
the matrices inside the blocks — to Muon at its own peak rate
(``muon_learning_rate``); the embedding (also the output head) and the
vectors keep AdamW. A linear layer whose ``stacked_maps`` attribute says it
computes several maps side by side (attention's ``qkv``: 3) gets a Muon group
that orthogonalises each map on its own. The trainer follows one schedule for
all groups: a group's ``lr_scale`` is its peak rate over ``learning_rate``.
"""

from __future__ import annotations

import torch
from torch import nn

from g2c.training.muon import MuonWithAdamW


def parameter_groups(params, weight_decay: float) -> list[dict]:
    """Two AdamW groups: ``[{decayed matrices}, {undecayed vectors, weight_decay=0}]``."""
    decayed, undecayed = [], []
    for param in params:  # model.parameters() lists shared (tied) parameters once
        if param.requires_grad:
            (decayed if param.ndim >= 2 else undecayed).append(param)
    return [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": undecayed, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, config, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names (``config``: a TrainingConfig) over ``model``.

    AdamW is fused into one kernel where PyTorch has one (CPU and CUDA): it
    updates all parameters in a few vectorised passes instead of a Python loop
    over tensors — on a small model the loop would cost as much as the maths.
    """
    betas = (config.beta1, config.beta2)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameter_groups(model.parameters(), config.weight_decay),
                                 lr=config.learning_rate, betas=betas,
                                 fused=True if device.type in ("cpu", "cuda") else None)
    by_stacking: dict[int, list[nn.Parameter]] = {}  # maps per weight -> the weights
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.weight.requires_grad:
            by_stacking.setdefault(getattr(module, "stacked_maps", 1), []).append(module.weight)
    matrices = [param for params in by_stacking.values() for param in params]
    if any(hasattr(param, "full_tensor") for param in matrices):
        raise ValueError("optimizer='muon' orthogonalises whole weight matrices, and FSDP2 "
                         "shards them across ranks: train with DDP (drop --fsdp) or with "
                         "optimizer='adamw'")
    in_muon = {id(param) for param in matrices}
    groups = parameter_groups([p for p in model.parameters() if id(p) not in in_muon],
                              config.weight_decay)
    groups += [{"params": params, "algorithm": "muon", "stacked": stacked,
                "lr": config.muon_learning_rate,
                "lr_scale": config.muon_learning_rate / config.learning_rate}
               for stacked, params in sorted(by_stacking.items())]
    return MuonWithAdamW(groups, lr=config.learning_rate, betas=betas,
                         weight_decay=config.weight_decay)

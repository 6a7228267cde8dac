"""Muon for the hidden matrices, AdamW for everything else: one optimizer.

AdamW scales every weight's step by its own running gradient size. Muon
(Jordan et al., 2024) treats a weight *matrix* as a whole: it takes the
momentum of the gradient, G, and replaces it by the nearest orthogonal
matrix — G = U·S·Vᵀ becomes U·Vᵀ — so every direction the update moves in
moves by the same amount, instead of a few large singular directions
swamping the rest. Per step that learns more from the same tokens
(docs/benchmarks.md, "Time to loss").

Orthogonalising exactly would need an SVD; five Newton–Schulz iterations,
each a few matrix products, get close enough:

    X ← G / ‖G‖                      every singular value now ≤ 1
    repeat 5×:  A = X·Xᵀ
                X ← a·X + (b·A + c·A²)·X  (a, b, c) = (3.4445, -4.7750, 2.0315)

which pushes each singular value towards ~1 (into 0.7 … 1.2) and keeps U, V.

Muon is only for the 2-D weights *inside* the network (every ``nn.Linear``).
The token embedding — a lookup table, and here also the output head — and the
norms' gains stay with AdamW, as in every published Muon recipe.

A weight that computes several maps side by side — attention's ``qkv`` is
the queries', keys' and values' matrices stacked, SwiGLU's ``up`` the gate's
and the value's — is orthogonalised one map at a time (a group's
``"stacked": k`` splits its rows into k equal blocks): orthogonalised whole,
the map with the largest gradient would set the directions of the others.
Together with warmup-stable-decay that lowered the validation loss after
300 steps by 0.02 nats, over 3 seeds (docs/benchmarks.md, "Time to loss").

Why not ``torch.optim.Muon``: PyTorch 2.13's runs the Newton–Schulz products
in bf16, which a CPU without native bf16 (AVX2 only) emulates: a ShakespeareLM
step took 3.5× AdamW's time with it and 1.2× with this one, which keeps the
gradient's dtype, fp32 (``benchmarks/bench_muon_step.py``).
The update rule is the same: Nesterov momentum 0.95, decoupled weight decay
``lr · weight_decay``, and the step scaled by √max(1, rows/cols).

A step whose loss or gradient is not finite is skipped as with AdamW, but
the "skip?" flag is read back to the host once per step (only the fused AdamW
can take it on the device).

    optimizer = MuonWithAdamW([{"params": matrices, "algorithm": "muon", "lr": 0.05},
                               {"params": qkv_weights, "algorithm": "muon", "lr": 0.05,
                                "stacked": 3},
                               {"params": others}], lr=4e-3, betas=(0.9, 0.99),
                              weight_decay=0.1)
"""

from __future__ import annotations

import torch
from torch.optim.adamw import adamw

NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)  # quintic coefficients (a, b, c)


def orthogonalize(matrices: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """(k, m, n): k matrices, each with about the same singular vectors and every singular
    value ≈ 1 (an (m, n) matrix is one of them)."""
    a, b, c = NEWTON_SCHULZ
    x = matrices if matrices.ndim == 3 else matrices.unsqueeze(0)
    tall = x.shape[1] > x.shape[2]
    x = x.mT if tall else x  # (k, small, large): the Gram matrices A are the small ones
    x = x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        polynomial = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)  # b·A + c·A²
        x = torch.baddbmm(x, polynomial, x, beta=a)  # a·X + (b·A + c·A²)·X
    x = x.mT if tall else x
    return x if matrices.ndim == 3 else x.squeeze(0)


class MuonWithAdamW(torch.optim.Optimizer):
    """Parameter groups with ``"algorithm": "muon"`` (2-D weights only) take Muon steps;
    the others (``"adamw"``, the default) take AdamW steps. One ``lr``,
    ``weight_decay`` per group as usual; ``momentum`` is Muon's, ``betas`` AdamW's."""

    def __init__(self, params, *, lr: float, betas: tuple[float, float], weight_decay: float,
                 momentum: float = 0.95, eps: float = 1e-8) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay,
                                      momentum=momentum, eps=eps, algorithm="adamw"))
        for group in self.param_groups:
            if group["algorithm"] not in ("muon", "adamw"):
                raise ValueError(f"algorithm must be 'muon' or 'adamw'; got "
                                 f"{group['algorithm']!r}")
            if group["algorithm"] == "muon" and any(p.ndim != 2 for p in group["params"]):
                raise ValueError("Muon parameter groups may hold 2-D weight matrices only")
            stacked = group.get("stacked", 1)
            if any(p.shape[0] % stacked for p in group["params"]):
                raise ValueError(f"a group with stacked={stacked} needs weights whose rows "
                                 f"split into {stacked} equal blocks")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if group["algorithm"] == "muon":
                self._muon_step(group, params)
            elif params:
                self._adamw_step(group, params)
        return loss

    def _muon_step(self, group: dict, params: list[torch.Tensor]) -> None:
        lr, momentum, stacked = group["lr"], group["momentum"], group.get("stacked", 1)
        for param in params:
            state = self.state[param]
            if not state:
                state["momentum_buffer"] = torch.zeros_like(param)
            buffer = state["momentum_buffer"]
            buffer.lerp_(param.grad, 1 - momentum)
            rows, cols = param.shape[0] // stacked, param.shape[1]
            look_ahead = param.grad.lerp(buffer, momentum)  # Nesterov momentum
            update = orthogonalize(look_ahead.view(stacked, rows, cols))  # one map at a time
            param.mul_(1 - lr * group["weight_decay"])
            param.add_(update.reshape(param.shape), alpha=-lr * max(1.0, rows / cols) ** 0.5)

    def _adamw_step(self, group: dict, params: list[torch.Tensor]) -> None:
        for param in params:
            state = self.state[param]
            if not state:  # the layout torch.optim.AdamW keeps, so the fused kernel can run
                state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
                state["exp_avg"] = torch.zeros_like(param)
                state["exp_avg_sq"] = torch.zeros_like(param)
        states = [self.state[param] for param in params]
        beta1, beta2 = group["betas"]
        adamw(params, [p.grad for p in params], [s["exp_avg"] for s in states],
              [s["exp_avg_sq"] for s in states], [], [s["step"] for s in states],
              fused=params[0].device.type in ("cpu", "cuda"), amsgrad=False, beta1=beta1,
              beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
              eps=group["eps"], maximize=False)

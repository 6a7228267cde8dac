"""The feed-forward half of a block: widen, bend, narrow — at every position alone.

Two flavours, both (B, T, C) -> (B, T, C):

* ``"gelu"`` (GPT-2):  down(gelu(up(h)))           up: C -> H, down: H -> C
* ``"swiglu"`` (gated, LLaMA-style): down(silu(a) * b) with [a, b] = up(h),
  up: C -> 2H. The gate b lets each hidden unit scale another one's output,
  which fits more per parameter; at equal parameter count use H ≈ 8C/3.

The gated form computes a and b with one matrix multiply (one (C, 2H)
weight) and splits the result: one big matmul is faster than two small ones.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from g2c.validation import require_choice

MLP_KINDS = ("gelu", "swiglu")


class MLP(nn.Module):
    def __init__(self, embedding_dim: int, hidden_dim: int, kind: str = "gelu", bias: bool = True):
        super().__init__()
        self.kind = require_choice("mlp", kind, MLP_KINDS)
        width = 2 * hidden_dim if kind == "swiglu" else hidden_dim
        self.up = nn.Linear(embedding_dim, width, bias=bias)
        self.up.stacked_maps = 2 if kind == "swiglu" else 1  # gate and value side by side
        self.down = nn.Linear(hidden_dim, embedding_dim, bias=bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.kind == "gelu":
            return self.down(F.gelu(self.up(h), approximate="tanh"))
        gate, value = self.up(h).chunk(2, dim=-1)
        return self.down(F.silu(gate) * value)

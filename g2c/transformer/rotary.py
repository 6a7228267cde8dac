"""Rotary position embeddings (RoPE): position as a rotation of queries and keys.

Learned positions add a vector to every token; rotary positions instead turn
pair of query/key channels (i, i + D/2) by an angle proportional to
the position t. A query at t and a key at s then meet with a dot product that
depends only on their offset t - s — attention becomes relative for free, and
no position table has to be learned (one fewer thing to fit in a short run).

Shapes: q and k are (B, heads, T, D) with D = head_dim (even). Channel i of
the first half pairs with channel i of the second half and turns by
``t · base^(-2i/D)``: fast rotations for the first pairs (local order), slow
ones for the last (long range).

Tiny worked example, D = 2, base irrelevant (one pair, frequency 1):
    x at t = 0: (1, 0) -> (1, 0);  at t = 1: (cos 1, sin 1)
"""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Precomputed cos/sin tables for positions 0 … max_seq_len-1."""

    def __init__(self, head_dim: int, max_seq_len: int, base: float = 10_000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary positions need an even head_dim; got {head_dim}")
        frequencies = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), frequencies)
        # Stored at full width D: cos repeated for both halves, sin signed so that
        #   rotate(x) = x · cos + swap_halves(x) · sin
        # gives (first·cos - second·sin, second·cos + first·sin) in two multiplies.
        # Not parameters and not saved: they are a pure function of the shape.
        cos, sin = angles.cos().float(), angles.sin().float()  # (T, D/2)
        self.register_buffer("cos", torch.cat((cos, cos), dim=-1), persistent=False)  # (T, D)
        self.register_buffer("sin", torch.cat((-sin, sin), dim=-1), persistent=False)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Rotate (..., T, D) queries or keys by their positions (any leading dims).

        Positions are 0 … T-1, or the (B, T) ``position_ids`` of packed rows
        (then x is (B, heads, T, D), or (n, B, heads, T, D) for n stacked tensors).
        """
        if position_ids is None:
            time = x.shape[-2]
            cos, sin = self.cos[:time].to(x.dtype), self.sin[:time].to(x.dtype)
        else:  # one table row per token, (B, 1, T, D): broadcast over heads
            cos = self.cos[position_ids].unsqueeze(1).to(x.dtype)
            sin = self.sin[position_ids].unsqueeze(1).to(x.dtype)
        first, second = x.chunk(2, dim=-1)
        return x * cos + torch.cat((second, first), dim=-1) * sin

"""Rotary position embeddings (RoPE): position as a rotation of queries and keys.

Learned positions add a vector to every token; rotary positions instead turn
each (even, odd)-style pair of query/key channels by an angle proportional to
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
        # Not parameters and not saved: they are a pure function of the shape.
        self.register_buffer("cos", angles.cos().float(), persistent=False)  # (T, D/2)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Rotate (B, heads, T, D) queries or keys by their positions.

        Positions are 0 … T-1, or the (B, T) ``position_ids`` of packed rows.
        """
        if position_ids is None:
            time = x.shape[-2]
            cos, sin = self.cos[:time].to(x.dtype), self.sin[:time].to(x.dtype)
        else:  # one table row per token, (B, 1, T, D/2): broadcast over heads
            cos = self.cos[position_ids].unsqueeze(1).to(x.dtype)
            sin = self.sin[position_ids].unsqueeze(1).to(x.dtype)
        first, second = x.chunk(2, dim=-1)
        return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)

"""Causal multi-head self-attention.

Input and output are (B, T, C) with C = embedding_dim = num_heads · head_dim.
One linear layer makes queries, keys and values for every head at once; the
attention itself is ``torch.nn.functional.scaled_dot_product_attention`` with
``is_causal=True``: position t may attend to positions 0 … t only. That mask
is what makes all T next-token predictions in a window legal at once.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, embedding_dim: int, num_heads: int) -> None:
        super().__init__()
        if embedding_dim % num_heads != 0:
            raise ValueError(
                f"embedding_dim ({embedding_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.num_heads = num_heads
        self.qkv = nn.Linear(embedding_dim, 3 * embedding_dim)
        self.proj = nn.Linear(embedding_dim, embedding_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        batch, time, channels = h.shape
        # (B, T, 3C) -> 3 × (B, heads, T, head_dim)
        q, k, v = (
            self.qkv(h)
            .view(batch, time, 3, self.num_heads, channels // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, time, channels))

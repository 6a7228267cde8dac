"""One pre-norm transformer block: h + attn(LN(h)), then h + MLP(LN(h)).

Pre-norm keeps the residual stream an untouched sum of every layer's output,
which is why deep stacks train without warm-up tricks. Shapes stay (B, T, C).
"""

from __future__ import annotations

import torch
from torch import nn

from g2c.transformer.attention import CausalSelfAttention


class TransformerBlock(nn.Module):
    def __init__(self, embedding_dim: int, num_heads: int, hidden_dim: int) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(embedding_dim)
        self.attn = CausalSelfAttention(embedding_dim, num_heads)
        self.mlp_norm = nn.LayerNorm(embedding_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embedding_dim, hidden_dim),
            nn.GELU(approximate="tanh"),
            nn.Linear(hidden_dim, embedding_dim),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.attn_norm(h))
        return h + self.mlp(self.mlp_norm(h))

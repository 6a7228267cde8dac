"""One pre-norm transformer block: h + attn(norm(h)), then h + MLP(norm(h)).

Pre-norm keeps the residual stream an untouched sum of every layer's output,
which is why deep stacks train without warm-up tricks. Shapes stay (B, T, C).

``norm`` picks the normaliser: ``"layer"`` (LayerNorm: subtract the mean,
divide by the spread, scale and shift) or ``"rms"`` (RMSNorm: divide by the
root-mean-square and scale — one reduction instead of two, no shift).
"""

from __future__ import annotations

import torch
from torch import nn

from g2c.transformer.attention import CausalSelfAttention
from g2c.transformer.mlp import MLP
from g2c.transformer.rotary import RotaryEmbedding

NORM_KINDS = ("layer", "rms")


def make_norm(kind: str, embedding_dim: int) -> nn.Module:
    """A LayerNorm or an RMSNorm over the last (C) dimension."""
    if kind == "layer":
        return nn.LayerNorm(embedding_dim)
    if kind == "rms":
        return nn.RMSNorm(embedding_dim)
    raise ValueError(f"norm must be one of {NORM_KINDS}; got {kind!r}")


class TransformerBlock(nn.Module):
    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        hidden_dim: int,
        *,
        mlp: str = "gelu",
        norm: str = "layer",
        bias: bool = True,
        qk_norm: bool = False,
        rotary: RotaryEmbedding | None = None,
    ) -> None:
        super().__init__()
        self.attn_norm = make_norm(norm, embedding_dim)
        self.attn = CausalSelfAttention(embedding_dim, num_heads, rotary=rotary, bias=bias,
                                        qk_norm=qk_norm)
        self.mlp_norm = make_norm(norm, embedding_dim)
        self.mlp = MLP(embedding_dim, hidden_dim, mlp, bias=bias)

    def forward(self, h: torch.Tensor, **attention_inputs) -> torch.Tensor:
        """(B, T, C) -> (B, T, C); ``attention_inputs`` (``attn_mask``, ``position_ids``)
        go to :class:`CausalSelfAttention`."""
        h = h + self.attn(self.attn_norm(h), **attention_inputs)
        return h + self.mlp(self.mlp_norm(h))

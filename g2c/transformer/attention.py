"""Causal multi-head self-attention.

Input and output are (B, T, C) with C = embedding_dim = num_heads · head_dim.
One linear layer makes queries, keys and values for every head at once; the
attention itself is ``torch.nn.functional.scaled_dot_product_attention`` with
``is_causal=True``: position t may attend to positions 0 … t only. That mask
is what makes all T next-token predictions in a window legal at once.

With ``rotary`` (a :class:`~g2c.transformer.rotary.RotaryEmbedding`) the
queries and keys are turned by their positions before they meet, so scores
depend on relative offsets (see ``rotary.py``).

:func:`explicit_causal_attention` spells the same computation out —
softmax(Q·Kᵀ/√d + causal mask)·V — and is what the trainer's CPU tuning
(``g2c.training.cpu_tuning``) switches on for bf16 on a CPU: there
PyTorch 2.13's fused kernel is slow (its bf16 backward takes ~5x the time of
the three ops below; see docs/benchmarks.md, "Time to loss"), while batched
matmuls in bf16 run at full AVX-512 speed.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from g2c.transformer.rotary import RotaryEmbedding


class CausalSelfAttention(nn.Module):
    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        *,
        rotary: RotaryEmbedding | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if embedding_dim % num_heads != 0:
            raise ValueError(
                f"embedding_dim ({embedding_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.num_heads = num_heads
        self.rotary = rotary
        self.explicit_cpu_bf16 = False  # see TransformerLM.set_cpu_bf16_attention
        self.qkv = nn.Linear(embedding_dim, 3 * embedding_dim, bias=bias)
        self.proj = nn.Linear(embedding_dim, embedding_dim, bias=bias)

    def forward(
        self,
        h: torch.Tensor,
        *,
        attn_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, T, C) -> (B, T, C). ``attn_mask`` (B, 1, T, T) bool replaces the
        causal mask (see document_mask.py); ``position_ids`` (B, T) feed rotary."""
        batch, time, channels = h.shape
        # (B, T, 3C) -> 3 × (B, heads, T, head_dim)
        qkv = (
            self.qkv(h)
            .view(batch, time, 3, self.num_heads, channels // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        v = qkv[2]
        # Queries and keys turn together: one rotary call on the stacked pair.
        q, k = qkv[:2] if self.rotary is None else self.rotary(qkv[:2], position_ids)
        if attn_mask is None and self.explicit_cpu_bf16 and q.device.type == "cpu" \
                and q.dtype == torch.bfloat16:
            out = explicit_causal_attention(q, k, v)
        elif attn_mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(batch, time, channels))


def explicit_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q·kᵀ/√d with future positions at -inf)·v for (B, heads, T, d) inputs.

    ``baddbmm`` computes ``mask + scale · (q @ kᵀ)`` in one pass, so the
    (T, T) score matrix is written once — not once for the product, again
    for the scaling and again for the mask. Row t's softmax then gives zero
    weight to every key s > t.

        T = 3:  mask = [[0, -inf, -inf],
                        [0,    0, -inf],
                        [0,    0,    0]]
    """
    batch, heads, time, head_dim = q.shape
    mask = torch.full((time, time), float("-inf"), dtype=q.dtype, device=q.device).triu(1)
    scores = torch.baddbmm(
        mask,
        q.reshape(batch * heads, time, head_dim),
        k.reshape(batch * heads, time, head_dim).transpose(1, 2),
        alpha=1.0 / math.sqrt(head_dim),
    )  # (B·heads, T, T)
    out = torch.softmax(scores, dim=-1) @ v.reshape(batch * heads, time, head_dim)
    return out.view(batch, heads, time, head_dim)

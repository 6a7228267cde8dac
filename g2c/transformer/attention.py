"""Causal multi-head self-attention.

Input and output are (B, T, C) with C = embedding_dim = num_heads · head_dim.
One linear layer makes queries, keys and values for every head at once; the
attention itself is ``torch.nn.functional.scaled_dot_product_attention`` with
``is_causal=True``: position t may attend to positions 0 … t only. That mask
is what makes all T next-token predictions in a window legal at once.

With ``rotary`` (a :class:`~g2c.transformer.rotary.RotaryEmbedding`) the
queries and keys are turned by their positions before they meet, so scores
depend on relative offsets (see ``rotary.py``).

With ``qk_norm`` every head's query and key vectors are layer-normalised
(:class:`HeadNorm`, learned gain) before rotary: a score q·k/√d can then never
exceed a bound the gains set, so no head's softmax saturates because its
queries and keys grew, and a larger learning rate stays stable. It is what
lets the Muon optimizer's big matrix updates train smoothly
(docs/benchmarks.md, "Time to loss").

Packed rows replace the causal mask by a document mask (``document_mask.py``):
a (B, 1, T, T) boolean tensor for SDPA, or on CUDA a FlexAttention
``BlockMask``, which lets the fused kernel skip every block of keys outside
the query's document instead of reading a dense mask. During generation a
:class:`~g2c.transformer.kv_cache.LayerCache` supplies the keys and values of
positions already read (``kv_cache.py``).

:func:`explicit_causal_attention` spells the same computation out —
softmax(Q·Kᵀ/√d + causal mask)·V — and is what the trainer's CPU tuning
(``g2c.training.cpu_tuning``) switches on for bf16 on a CPU: there
PyTorch 2.13's fused kernel is slow (its bf16 backward takes ~5x the time of
the three ops below; see docs/benchmarks.md, "Time to loss"), while batched
matmuls in bf16 run at full AVX-512 speed.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.attention.flex_attention import BlockMask, flex_attention

from g2c.transformer.kv_cache import LayerCache
from g2c.transformer.rotary import RotaryEmbedding


class CausalSelfAttention(nn.Module):
    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        *,
        rotary: RotaryEmbedding | None = None,
        bias: bool = True,
        qk_norm: bool = False,
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
        self.qkv.stacked_maps = 3  # q, k, v side by side (Muon orthogonalises each alone)
        self.proj = nn.Linear(embedding_dim, embedding_dim, bias=bias)
        head_dim = embedding_dim // num_heads
        self.q_norm = HeadNorm(num_heads, head_dim) if qk_norm else None
        self.k_norm = HeadNorm(num_heads, head_dim) if qk_norm else None

    def forward(
        self,
        h: torch.Tensor,
        *,
        attn_mask: torch.Tensor | BlockMask | None = None,
        position_ids: torch.Tensor | None = None,
        kv_cache: LayerCache | None = None,
    ) -> torch.Tensor:
        """(B, T, C) -> (B, T, C). ``attn_mask`` — a (B, 1, T, T) bool tensor or a
        FlexAttention ``BlockMask`` — replaces the causal mask (see document_mask.py);
        ``position_ids`` (B, T) feed rotary; ``kv_cache`` adds the stored keys and values
        of earlier positions (and keeps this call's)."""
        batch, time, channels = h.shape
        # (B, T, 3C) -> 3 × (B, heads, T, head_dim)
        qkv = (
            self.qkv(h)
            .view(batch, time, 3, self.num_heads, channels // self.num_heads)
            .permute(2, 0, 3, 1, 4)
        )
        qk, v = qkv[:2], qkv[2]
        if self.q_norm is not None:
            qk = torch.stack((self.q_norm(qk[0]), self.k_norm(qk[1])))
        # Queries and keys turn together: one rotary call on the stacked pair.
        q, k = qk if self.rotary is None else self.rotary(qk, position_ids)
        if kv_cache is not None:
            k, v = kv_cache.extend(k, v)
        if isinstance(attn_mask, BlockMask):
            out = block_masked_attention(q, k, v, attn_mask)
        elif attn_mask is not None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        elif time == 1:  # the newest position: every key (stored or its own) is in its past
            out = F.scaled_dot_product_attention(q, k, v)
        elif self.explicit_cpu_bf16 and q.device.type == "cpu" and q.dtype == torch.bfloat16:
            out = explicit_causal_attention(q, k, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, time, channels))


class HeadNorm(nn.Module):
    """LayerNorm of each head's vector on its own, then a learned gain per head and channel.

    (B, heads, T, d) -> same shape. The gain is one flat (heads · d) vector, so
    the optimizer treats it like every other norm's gain (no weight decay).
    """

    def __init__(self, num_heads: int, head_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_heads * head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heads, head_dim = x.shape[1], x.shape[-1]
        gain = self.weight.view(heads, 1, head_dim)  # (heads, 1, d): broadcast over B and T
        return F.layer_norm(x, (head_dim,), eps=self.eps) * gain


def block_masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            block_mask: BlockMask) -> torch.Tensor:
    """FlexAttention of (B, heads, T, head_dim) inputs under ``block_mask``.

    On CUDA it runs compiled: one fused kernel that skips the blocks the mask
    rules out (uncompiled, FlexAttention is an unfused reference that builds the
    (T, T) scores). Elsewhere it runs that reference, forward only: in torch
    2.13 FlexAttention has no backward pass on CPU, which is why training on a
    CPU keeps SDPA with a boolean mask.
    """
    attend = _compiled_flex_attention() if q.is_cuda else flex_attention
    return attend(q, k, v, block_mask=block_mask)


@cache
def _compiled_flex_attention():
    """``torch.compile(flex_attention)``, made on first use (compiling imports take seconds);
    inside a compiled model the call is inlined into the model's graph."""
    return torch.compile(flex_attention, dynamic=False)


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

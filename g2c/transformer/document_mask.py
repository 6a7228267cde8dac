"""Document masking: attention that is causal *and* stays inside one document.

In a packed row (``g2c.pretraining.packing``) several documents sit side by
side. Plain causal attention would let the second document read the first;
the document mask allows query t to see key s only when

    s <= t                                   (causal: no peeking ahead)
    and document_ids[s] == document_ids[t]   (same document)

    document_ids = [0 0 0 1 1]      allowed[t, s]   s: 0 1 2 3 4
                                              t=0     1 . . . .
                                              t=1     1 1 . . .
                                              t=2     1 1 1 . .
                                              t=3     . . . 1 .
                                              t=4     . . . 1 1

The mask is built once per forward and shared by every layer and head: off
CUDA, one (B, 1, T, T) bool tensor for SDPA's ``attn_mask`` (every masked score
is still computed; FlexAttention has no CPU backward in torch 2.13); on CUDA,
a FlexAttention ``BlockMask`` that skips 128 × 128 tiles with nothing allowed,
so the work shrinks with short documents. The diagonal is always allowed, so
the softmax never sees a row of only -inf.

Document ids must not decrease along a row: then every document is one
contiguous run of positions, which is what "packed" means.
"""

from __future__ import annotations

import torch
from torch.nn.attention.flex_attention import BlockMask, create_block_mask

from g2c.validation import require_integer_tensor

# The fused CUDA FlexAttention kernel needs head_dim >= 16 (Triton's tl.dot); smaller
# heads keep SDPA with the boolean mask.
FLEX_MIN_HEAD_DIM = 16


def _require_like_tokens(name: str, ids: torch.Tensor, token_ids: torch.Tensor) -> None:
    require_integer_tensor(name, ids)
    if ids.shape != token_ids.shape:
        raise ValueError(f"{name} must have the shape of token_ids, (B, T) = "
                         f"{tuple(token_ids.shape)}; got {tuple(ids.shape)}")


def check_document_ids(document_ids: torch.Tensor, token_ids: torch.Tensor) -> None:
    """Raise unless ``document_ids`` is integer (B, T) like ``token_ids``, non-decreasing by row."""
    _require_like_tokens("document_ids", document_ids, token_ids)
    drops = document_ids[:, 1:] < document_ids[:, :-1]
    if bool(drops.any()):
        row, t = (int(i) for i in drops.nonzero()[0])
        raise ValueError(
            f"document_ids must be non-decreasing within a row (one contiguous run per "
            f"document); row {row} goes from {int(document_ids[row, t])} at position {t} "
            f"to {int(document_ids[row, t + 1])} at position {t + 1}"
        )


def check_position_ids(
    position_ids: torch.Tensor, token_ids: torch.Tensor, max_seq_len: int
) -> None:
    """Raise unless ``position_ids`` is integer (B, T) like ``token_ids``, in [0, max_seq_len)."""
    _require_like_tokens("position_ids", position_ids, token_ids)
    low, high = (int(v) for v in torch.aminmax(position_ids))
    if low < 0 or high >= max_seq_len:
        raise ValueError(
            f"position_ids must lie in [0, max_seq_len={max_seq_len}); got values from "
            f"{low} to {high}"
        )


def document_causal_mask(document_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) document ids -> (B, 1, T, T) bool, True where query t may attend to key s."""
    time = document_ids.shape[1]
    same_document = document_ids.unsqueeze(2) == document_ids.unsqueeze(1)  # (B, T, T)
    causal = torch.ones(time, time, dtype=torch.bool, device=document_ids.device).tril()
    return (same_document & causal).unsqueeze(1)


def document_block_mask(document_ids: torch.Tensor) -> BlockMask:
    """(B, T) document ids -> FlexAttention ``BlockMask``: the rule of
    :func:`document_causal_mask` (causal, same document) for query t and key s."""
    batch, time = document_ids.shape

    def same_document_causal(b, h, q, kv):
        return (q >= kv) & (document_ids[b, q] == document_ids[b, kv])

    return create_block_mask(same_document_causal, batch, None, time, time,
                             device=document_ids.device)


def document_attention_mask(document_ids: torch.Tensor, head_dim: int) -> torch.Tensor | BlockMask:
    """The document mask in the form the device runs fastest: a ``BlockMask`` for
    FlexAttention on CUDA (heads of at least ``FLEX_MIN_HEAD_DIM``), else the
    (B, 1, T, T) bool tensor for SDPA."""
    if document_ids.device.type == "cuda" and head_dim >= FLEX_MIN_HEAD_DIM:
        return document_block_mask(document_ids)
    return document_causal_mask(document_ids)

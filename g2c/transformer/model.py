"""TransformerLM: a decoder-only, causal language model.

    token_ids (B, T) --embed (+ previous token's share) (+ learned position)--> (B, T, C)
        --num_layers × TransformerBlock--> (B, T, C)
        --final norm--> (B, T, C)
        --unembed (tied to the token embedding) (+ bias)--> logits (B, T, V)

The unembedding reuses the token-embedding matrix (weight tying): the vector
that *reads* token v in is the one that *scores* token v out, which saves V·C
parameters and trains better on small data. A separate per-token output bias
lets the model learn unigram frequencies without bending the embeddings
(``output_bias=False`` drops it: stock Hugging Face decoders have no such bias,
so ``g2c export`` needs it off).

The keyword-only options swap in the modern pieces one at a time, so each can
be compared against GPT-2's choices (the defaults):

    positions="learned" | "rotary"   where order comes from (rotary.py)
    mlp="gelu" | "swiglu"            plain or gated feed-forward (mlp.py)
    norm="layer" | "rms"             LayerNorm or RMSNorm (block.py)
    bias=True | False                biases in the attention and MLP linears
    qk_norm=False | True             normalise each head's queries and keys (attention.py)
    output_bias=True | False         the per-token bias added to the logits
    token_shift=False | True         add a learned share of the previous token's embedding
                                     (token_shift.py)

``model(x)`` returns the (B, T, V) logits, as the course writes the loss:
``lm_cross_entropy(model(x), y)``. ``model(x, targets=y)`` returns that same
mean loss without ever holding the logits whole: the unembedding and the loss
run together in ``linear_cross_entropy``, which cuts the B·T positions into
chunks when (B·T)·V is large and takes the plain path when it is small.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from g2c.nn import linear_cross_entropy
from g2c.transformer.block import TransformerBlock, make_norm
from g2c.transformer.attention import CausalSelfAttention
from g2c.transformer.document_mask import (
    check_document_ids,
    check_position_ids,
    document_attention_mask,
)
from g2c.transformer.kv_cache import KVCache
from g2c.transformer.rotary import RotaryEmbedding
from g2c.transformer.token_shift import TokenShift
from g2c.validation import require_integer_tensor, require_positive_int

POSITION_KINDS = ("learned", "rotary")


class TransformerLM(nn.Module):
    """Causal LM with the course's constructor.

    Args:
        vocab_size: V, number of token ids.
        embedding_dim: C, width of the residual stream.
        num_layers: number of transformer blocks.
        num_heads: attention heads per block (must divide C).
        max_seq_len: longest context T the model accepts.
        hidden_dim: MLP width, 4·C by default.
        positions, mlp, norm, bias, qk_norm, output_bias, token_shift: architecture
            options (see the module doc).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        num_layers: int,
        num_heads: int,
        max_seq_len: int,
        *,
        hidden_dim: int | None = None,
        positions: str = "learned",
        mlp: str = "gelu",
        norm: str = "layer",
        bias: bool = True,
        qk_norm: bool = False,
        output_bias: bool = True,
        token_shift: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (
            ("vocab_size", vocab_size),
            ("embedding_dim", embedding_dim),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("max_seq_len", max_seq_len),
        ):
            require_positive_int(name, value)
        hidden_dim = 4 * embedding_dim if hidden_dim is None else require_positive_int(
            "hidden_dim", hidden_dim
        )
        if positions not in POSITION_KINDS:
            raise ValueError(f"positions must be one of {POSITION_KINDS}; got {positions!r}")
        for name, flag in (("bias", bias), ("qk_norm", qk_norm), ("output_bias", output_bias),
                           ("token_shift", token_shift)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False; got {flag!r}")
        if embedding_dim % num_heads != 0:
            raise ValueError(
                f"embedding_dim ({embedding_dim}) must be divisible by num_heads ({num_heads})"
            )
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.head_dim = embedding_dim // num_heads
        self.token_embedding = nn.Embedding(vocab_size, embedding_dim)
        self.token_shift = TokenShift(embedding_dim) if token_shift else None
        rotary = None
        if positions == "learned":
            self.position_embedding = nn.Embedding(max_seq_len, embedding_dim)
        else:
            rotary = RotaryEmbedding(embedding_dim // num_heads, max_seq_len)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                embedding_dim, num_heads, hidden_dim, mlp=mlp, norm=norm, bias=bias,
                qk_norm=qk_norm, rotary=rotary,
            )
            for _ in range(num_layers)
        )
        self.final_norm = make_norm(norm, embedding_dim)
        self.output_bias = nn.Parameter(torch.zeros(vocab_size)) if output_bias else None
        # Check the values of targets, document_ids and position_ids on every call: a
        # clear error for a notebook's hand-made ids. The trainer, whose batches are
        # valid by construction, turns it off: the checks read tensors back to the host.
        self.check_inputs = True
        self._init_weights(num_layers)

    def set_cpu_bf16_attention(self, explicit: bool) -> None:
        """Use :func:`~g2c.transformer.attention.explicit_causal_attention` for bf16 on a CPU
        (faster there than PyTorch 2.13's fused kernel; ``g2c.training.cpu_tuning`` decides)."""
        for module in self.modules():
            if isinstance(module, CausalSelfAttention):
                module.explicit_cpu_bf16 = explicit

    def _init_weights(self, num_layers: int) -> None:
        # Small normal weights keep the first logits near zero, so the step-0
        # loss is close to log(V). Each residual branch's output projection is
        # shrunk by 1/sqrt(2·layers) so the residual stream's variance does not
        # grow with depth.
        residual_std = 0.02 / math.sqrt(2 * num_layers)
        for name, param in self.named_parameters():
            if name.endswith("bias") or "norm" in name or name.startswith("token_shift"):
                continue  # zeros and ones as built (TokenShift starts as the plain model)
            is_residual_out = name.endswith("attn.proj.weight") or name.endswith("mlp.down.weight")
            nn.init.normal_(param, mean=0.0, std=residual_std if is_residual_out else 0.02)

    def forward(
        self,
        token_ids: torch.Tensor,
        *,
        targets: torch.Tensor | None = None,
        z_loss: float = 0.0,
        document_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Map (B, T) token ids to (B, T, V) next-token logits, or to the loss.

        With ``targets`` (B, T) — the next-token ids, ``-100`` for positions
        that carry no loss — return the scalar mean cross-entropy instead,
        equal to ``lm_cross_entropy(model(x), targets)`` but computed by
        ``linear_cross_entropy`` without materialising large logits
        (``z_loss`` > 0 adds its z-loss term; see ``g2c.nn.linear_cross_entropy``).

        For packed rows (``g2c.pretraining.get_packed_batch``) pass the (B, T)
        ``document_ids`` — attention then stays inside each document — and
        ``position_ids`` (B, T), which replace 0 … T-1. Without them: plain
        causal attention over the whole row.

        With a ``kv_cache`` (``g2c.transformer.kv_cache``, for generation) the
        ids continue the positions the cache already holds: the prompt first,
        then one token per call, up to ``max_seq_len`` positions in all.
        """
        require_integer_tensor("token_ids", token_ids)
        if token_ids.ndim != 2:
            raise ValueError(
                f"token_ids must be (B, T); got shape {tuple(token_ids.shape)}"
            )
        time = token_ids.shape[1]
        past = 0 if kv_cache is None else kv_cache.length
        if past + time > self.max_seq_len:
            cached = "" if kv_cache is None else f" after the kv_cache's {past}"
            raise ValueError(
                f"token_ids has T={time} positions{cached} but this model's max_seq_len is "
                f"{self.max_seq_len}; crop the context or build a longer model"
            )
        if kv_cache is not None and document_ids is not None:
            raise ValueError("kv_cache is for generating one sequence; packed rows "
                             "(document_ids) cannot use it")
        if self.check_inputs and document_ids is not None:
            check_document_ids(document_ids, token_ids)
        if self.check_inputs and position_ids is not None:
            check_position_ids(position_ids, token_ids, self.max_seq_len)
        if past and position_ids is None:  # the new positions follow the cached ones
            position_ids = torch.arange(past, past + time, device=token_ids.device)[None]
        # Built once and shared by all layers; None: plain causal attention.
        attn_mask = None if document_ids is None else document_attention_mask(document_ids,
                                                                               self.head_dim)
        h = self.token_embedding(token_ids)  # (B, T, C)
        if self.token_shift is not None:
            embeddings = h
            h = self.token_shift(h, document_ids=document_ids,
                                 previous=None if kv_cache is None else kv_cache.last_embedding)
            if kv_cache is not None:  # the next call's first token follows this call's last
                kv_cache.last_embedding = embeddings[:, -1:]  # (B, 1, C)
        if hasattr(self, "position_embedding"):
            positions = position_ids
            if positions is None:
                positions = torch.arange(time, device=token_ids.device)
            h = h + self.position_embedding(positions)
        for index, block in enumerate(self.blocks):
            h = block(h, attn_mask=attn_mask, position_ids=position_ids,
                      kv_cache=None if kv_cache is None else kv_cache.layer(index))
        h = self.final_norm(h)
        if targets is not None:
            return linear_cross_entropy(h, self.token_embedding.weight, targets,
                                        bias=self.output_bias, z_loss=z_loss,
                                        check_targets=self.check_inputs)
        return F.linear(h, self.token_embedding.weight, self.output_bias)

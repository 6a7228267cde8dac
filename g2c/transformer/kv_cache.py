"""KVCache: the keys and values a model has already computed, kept for the next token.

To pick token t+1, the model's last position attends over positions 0 … t.
Its query is new, but every key and value at a position s <= t depends only
on tokens 0 … s (attention is causal, and everything else in a block works
position by position). Reading one more token cannot change them, so the
ones computed at the previous step are still exactly right: the cache keeps
them, and each new token costs one position's work instead of t + 1.

    cache = KVCache(capacity=model.max_seq_len)
    model(prompt, kv_cache=cache)      # (1, P): every layer stores P keys and values
    model(next_id, kv_cache=cache)     # (1, 1): each layer appends one, attends over P + 1

Keys and values are (B, heads, T, head_dim) per layer. After the prompt, the
single new query is the newest position, so it may see every key: no mask.
A model with a token shift (``token_shift.py``) also keeps the last token's
embedding, (B, 1, C), which the next token's shift adds a share of.
"""

from __future__ import annotations

import torch

from g2c.validation import require_positive_int


class LayerCache:
    """One attention layer's stored keys and values (positions 0 … length-1)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.length = 0
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append (B, heads, T, head_dim) keys and values; return all stored so far."""
        time = k.shape[-2]
        if self.length and time != 1:
            raise ValueError(f"a KVCache that holds a prompt takes one new position per call; "
                             f"got {time}")
        if self.length + time > self.capacity:
            raise ValueError(f"the KVCache holds {self.capacity} positions; {self.length} are "
                             f"stored and {time} more do not fit")
        if self.keys is None:
            shape = (*k.shape[:-2], self.capacity, k.shape[-1])
            self.keys = k.new_empty(shape)
            self.values = v.new_empty(shape)
        stop = self.length + time
        self.keys[..., self.length:stop, :] = k
        self.values[..., self.length:stop, :] = v
        self.length = stop
        return self.keys[..., :stop, :], self.values[..., :stop, :]


class KVCache:
    """Every layer's :class:`LayerCache`; ``length`` is the positions already read."""

    def __init__(self, capacity: int) -> None:
        self.capacity = require_positive_int("capacity", capacity)
        self.layers: list[LayerCache] = []
        self.last_embedding: torch.Tensor | None = None  # (B, 1, C), for a token shift

    @property
    def length(self) -> int:
        return self.layers[0].length if self.layers else 0

    def layer(self, index: int) -> LayerCache:
        """Layer ``index``'s cache (made on first use, so the model sets the layer count)."""
        while len(self.layers) <= index:
            self.layers.append(LayerCache(self.capacity))
        return self.layers[index]

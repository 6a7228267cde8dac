"""TokenShift: each token's embedding gets a learned share of the previous token's.

    e'_t = e_t + λ ⊙ e_{t-1}        λ: one weight per channel (C,), starting at 0

The first thing a language model learns is which token tends to follow which
(bigram statistics). A transformer can only see the previous token through
attention, so a shallow model spends much of its first layer's attention on
"look one position back". The shift hands the block that pair directly, at the
cost of one multiply-add per position: at λ = 0 the model is the plain one,
and training moves each channel's λ as far as it helps. The same idea is
RWKV's "token shift" and the modded-nanogpt speedrun's "smear".

In ShakespeareLM (2 layers, characters) it lowered the validation loss after
800 steps by 0.016–0.028 nats, paired over 3 seeds, at the same speed
(``benchmarks/bench_recipe_choices.py``; docs/benchmarks.md, "Time to loss").

Shapes: e is (B, T, C). Position 0 of a row has no previous token and gets
nothing added, exactly like a training window's first position, unless the
caller passes ``previous`` (B, 1, C): the embedding of the token before it
(generation with a KV cache, where the prompt came in an earlier call). With
``document_ids`` (B, T) (packed rows) a document's first token gets nothing
either: the shift crosses between positions exactly where attention does.

Tiny worked example, C = 1, λ = 0.5:
    e = [1, 2, 4]  ->  [1, 2 + 0.5·1, 4 + 0.5·2] = [1, 2.5, 5]
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class TokenShift(nn.Module):
    """``e + λ ⊙ (e one position back)`` for (B, T, C) embeddings; λ (C,) starts at zero."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, embeddings: torch.Tensor, *, previous: torch.Tensor | None = None,
                document_ids: torch.Tensor | None = None) -> torch.Tensor:
        if previous is None:  # (B, T, C) -> (B, T, C): row t holds e_{t-1}, row 0 zeros
            shifted = F.pad(embeddings[:, :-1], (0, 0, 1, 0))
        else:
            shifted = torch.cat((previous, embeddings[:, :-1]), dim=1)
        if document_ids is not None:  # (B, T): True where the previous token is another doc's
            starts = F.pad(document_ids[:, 1:] != document_ids[:, :-1], (1, 0), value=True)
            shifted = shifted.masked_fill(starts.unsqueeze(-1), 0.0)
        return embeddings + self.weight * shifted

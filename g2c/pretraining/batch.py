"""Sample next-token training windows from a token stream.

Every window of T+1 consecutive tokens gives T prediction problems at once:

    stream:  ... 5  9  2  7  4 ...        (window starting at s, T = 4)
    x        =   5  9  2  7               ids[s   : s+T]
    y        =      9  2  7  4            ids[s+1 : s+T+1]

``y[b, t]`` is the token that follows ``x[b, t]``. A causal model sees only
``x[b, :t+1]`` when it predicts ``y[b, t]``, so all T positions are honest
predictions trained in one pass.
"""

from __future__ import annotations

import torch

from g2c.pretraining.token_stream import check_token_stream
from g2c.pretraining.windows import require_window_fits, window_batch
from g2c.validation import require_positive_int


def get_lm_batch(
    ids,
    batch_size: int,
    context_length: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``batch_size`` random windows; return int64 ``x, y`` of shape (B, T).

    Args:
        ids: 1-D token stream — torch tensor, numpy array or ``np.memmap`` of
            any integer dtype.
        batch_size: B, the number of windows.
        context_length: T, tokens per window the model reads.
        generator: a ``torch.Generator`` that makes the draw reproducible.
        device: where to put the batch; on CUDA the copy goes through pinned
            memory with ``non_blocking=True`` so it overlaps with compute.

    Starts are uniform over every valid start ``0 … n-T-1`` (the last one
    included, so the final token is a target too). All windows are gathered
    in one indexing op over a strided view of the stream: no Python loop over
    rows. ``x`` and ``y`` are two views into one (B, T+1) tensor, offset by one
    column — the shift by one, visible in memory.
    """
    check_token_stream("ids", ids)
    batch_size = require_positive_int("batch_size", batch_size)
    context_length = require_positive_int("context_length", context_length)
    require_window_fits(ids.shape[0], context_length)
    num_starts = ids.shape[0] - context_length  # valid starts 0 .. n-T-1
    starts = torch.randint(0, num_starts, (batch_size,), generator=generator)
    return window_batch(ids, starts, context_length, device)

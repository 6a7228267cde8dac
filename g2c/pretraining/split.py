"""Split one token stream into a training part and a validation part.

The stream is cut once, at ``int(n * train_fraction)`` (:func:`split_point`): everything before the
cut trains, everything after validates. We never shuffle tokens — a shuffled
stream is no longer text, and a random split would leak validation windows
into training through overlapping neighbours.

    ids = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], train_fraction=0.8
    train = [10 ... 17]   val = [18, 19]
"""

from __future__ import annotations

from typing import TypeVar

from g2c.pretraining.token_stream import check_token_stream
from g2c.token_split import split_point

Stream = TypeVar("Stream")


def split_token_stream(ids: Stream, train_fraction: float = 0.9) -> tuple[Stream, Stream]:
    """Return ``(train_ids, val_ids)``: two contiguous views of the 1-D ``ids``.

    ``ids`` may be a torch tensor, a numpy array or an ``np.memmap``; the views
    share its memory (nothing is copied, so a memory-mapped file stays on disk).
    """
    check_token_stream("ids", ids)
    n = len(ids)
    cut = split_point(n, train_fraction)
    if cut == 0 or cut == n:
        part = "train" if cut == 0 else "validation"
        raise ValueError(
            f"the {part} split would be empty: {n} tokens with train_fraction="
            f"{train_fraction} cut at {cut}; use a longer stream or another fraction"
        )
    return ids[:cut], ids[cut:]

"""Where a token stream is cut into train and validation: one rule for the whole package
(free of torch, so ``g2c prepare`` uses it without importing PyTorch)."""

from __future__ import annotations


def split_point(num_tokens: int, train_fraction: float = 0.9) -> int:
    """The one cut rule: tokens ``[0, cut)`` train, ``[cut, n)`` validate.

    ``cut = int(n * train_fraction)``, rounded down: 10 tokens at 0.87 cut at 8
    (``round`` would give 9). ``split_token_stream`` and ``g2c prepare`` both call this,
    so a tensor split in a notebook and a prepared corpus can never disagree.
    """
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)):
        raise TypeError(f"train_fraction must be a float between 0 and 1; got {train_fraction!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(
            f"train_fraction must be between 0 and 1 (exclusive); got {train_fraction}"
        )
    return int(num_tokens * train_fraction)

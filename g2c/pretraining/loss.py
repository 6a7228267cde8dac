"""The language-modelling loss: B·T classification problems, one mean.

A (B, T, V) logits tensor holds, for each of the B windows and each of the T
positions, V scores for "which token comes next". Cross-entropy is a loss for
(N, V) rows, so we flatten batch and time together — N = B·T — and every
position weighs the same in the mean:

    logits (B, T, V) --reshape--> (B·T, V)
    targets (B, T)   --reshape--> (B·T,)
"""

from __future__ import annotations

import torch

from g2c.nn import CrossEntropyLoss

_loss_fn = CrossEntropyLoss()


def lm_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over all B·T positions (a scalar tensor).

    ``logits`` is (B, T, V) from the model; ``targets`` is (B, T), the ``y``
    of :func:`get_lm_batch`.
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(
            f"logits and targets must be torch tensors; got {type(logits).__name__} "
            f"and {type(targets).__name__}"
        )
    if logits.ndim != 3 or targets.ndim != 2 or logits.shape[:2] != targets.shape:
        raise ValueError(
            f"logits must be (B, T, V) and targets (B, T) with the same B and T; got "
            f"logits shape {tuple(logits.shape)} and targets shape {tuple(targets.shape)}"
        )
    # BEGIN SOLUTION 09b
    batch, time, vocab = logits.shape
    return _loss_fn(logits.reshape(batch * time, vocab), targets.reshape(batch * time))
    # END SOLUTION 09b

"""A fixed validation set: the same windows at every evaluation.

Random validation batches make a noisy curve — a dip might be a lucky draw.
Here the validation split is cut once into W non-overlapping windows of T+1
tokens (with ``max_tokens``, spread evenly over the whole split), and every
evaluation scores exactly those, so two points on the curve differ only
because the model changed.

**Bits per byte.** Nats per token depend on the tokenizer (a BPE token covers
~4 bytes, a character one); the text does not. The total loss in bits divided
by the UTF-8 bytes the targets spell (``token_bytes[id]``, 0 for special
tokens) compares any two tokenizers:

    bits_per_byte = mean_loss · W·T / ln 2 / bytes(y)
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from g2c.pretraining import lm_cross_entropy
from g2c.pretraining.token_stream import check_token_stream
from g2c.validation import require_positive_int


@dataclass(frozen=True)
class ValidationSet:
    """W fixed windows: ``x`` and ``y`` are (W, T) int64 tensors on the CPU."""

    x: torch.Tensor
    y: torch.Tensor
    num_bytes: int | None = None  # UTF-8 bytes the targets y spell (None: unknown)

    @property
    def num_tokens(self) -> int:
        """Predictions per evaluation: W · T."""
        return self.x.numel()

    def bits_per_byte(self, mean_loss: float) -> float | None:
        """The tokenizer-independent score of a mean loss (nats per token) on these windows."""
        if not self.num_bytes:
            return None
        return mean_loss * self.num_tokens / math.log(2) / self.num_bytes

    def subset(self, rows) -> ValidationSet:
        """Some of the windows (their bytes are not counted: shares are scored, not reported)."""
        return ValidationSet(self.x[rows], self.y[rows])


def validation_windows(
    val_ids, context_length: int, *, min_windows: int = 1, max_tokens: int | None = None
) -> ValidationSet:
    """Cut ``val_ids`` into fixed, non-overlapping (T+1)-token windows (at least
    ``min_windows`` of them, or a ValueError)."""
    check_token_stream("val_ids", val_ids)
    context_length = require_positive_int("context_length", context_length)
    min_windows = require_positive_int("min_windows", min_windows)
    available = (len(val_ids) - 1) // context_length
    if available < min_windows:
        raise ValueError(
            f"the validation split has {len(val_ids):,} tokens, which fills only {available} "
            f"window(s) of context_length={context_length} (+1 target), but one batch needs "
            f"{min_windows}: use a smaller batch_size or context_length, a larger corpus, or a "
            f"smaller train_fraction"
        )
    count = available
    if max_tokens is not None:
        count = max(min_windows, min(available, require_positive_int("max_tokens", max_tokens)
                                     // context_length))
    # Window k starts at k·T (non-overlapping); a capped set takes W of them spread evenly.
    starts = np.linspace(0, available - 1, count).round().astype(np.int64) * context_length
    index = starts[:, None] + np.arange(context_length + 1)  # (W, T+1) token positions
    if isinstance(val_ids, torch.Tensor):
        index = torch.from_numpy(index)
    windows = torch.as_tensor(val_ids[index]).to(torch.int64)
    return ValidationSet(windows[:, :-1].contiguous(), windows[:, 1:].contiguous())


def evaluation_sets(train_ids, val_ids, config, *, world_size: int = 1, token_bytes=None):
    """The trainer's two fixed sets: (validation windows, train probe).

    The validation set has at least one batch of windows; the train probe (for
    the final train loss) as many tokens. Both are trimmed to a multiple of
    ``world_size``, so every rank scores an equal share.
    """
    validation = _trimmed(validation_windows(
        val_ids, config.context_length, min_windows=max(config.batch_size, world_size),
        max_tokens=config.val_tokens), world_size, token_bytes)
    probe = _trimmed(validation_windows(
        train_ids, config.context_length, min_windows=world_size,
        max_tokens=validation.num_tokens), world_size, token_bytes)
    return validation, probe


def _trimmed(windows: ValidationSet, multiple: int, token_bytes) -> ValidationSet:
    keep = len(windows.x) - len(windows.x) % multiple
    y = windows.y[:keep]
    num_bytes = None if token_bytes is None else int(np.asarray(token_bytes)[y.numpy()].sum())
    return ValidationSet(windows.x[:keep], y, num_bytes)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    validation: ValidationSet,
    *,
    batch_size: int,
    device: torch.device,
    autocast=None,
    fused: bool = False,
) -> float:
    """Mean next-token loss of ``model`` over every window of ``validation``, in eval mode.

    ``autocast``: an optional context factory; ``fused``: ask the model for the
    loss (``model(x, targets=y)``) instead of materialising the logits.
    """
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for start in range(0, len(validation.x), batch_size):
            x = validation.x[start:start + batch_size].to(device)
            y = validation.y[start:start + batch_size].to(device)
            with nullcontext() if autocast is None else autocast():
                output = model(x, targets=y) if fused else model(x)
            loss = output if fused else lm_cross_entropy(output, y)  # fp32, outside autocast
            total += float(loss) * y.numel()
    finally:
        model.train(was_training)
    return total / validation.num_tokens

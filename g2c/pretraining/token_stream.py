"""What counts as a token stream: a 1-D array of integer ids.

Streams arrive as torch tensors (from a notebook) or as numpy arrays and
``np.memmap`` views of a ``.bin`` file (uint16 when the vocabulary fits in
65,536 ids, else uint32). Everything in ``g2c.pretraining`` accepts both.
"""

from __future__ import annotations

import numpy as np
import torch

from g2c.validation import is_integer_dtype


def check_token_stream(name: str, ids) -> None:
    """Raise unless ``ids`` is a 1-D torch tensor or numpy array of integers."""
    if not isinstance(ids, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"{name} must be a 1-D torch.Tensor or numpy array of token ids; got "
            f"{type(ids).__name__}"
        )
    if ids.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D token stream; got {ids.ndim}-D with shape "
            f"{tuple(ids.shape)} (flatten documents into one stream first)"
        )
    if not is_integer_dtype(ids.dtype):
        raise ValueError(
            f"{name} must hold integer token ids; got dtype {ids.dtype} "
            f"(token files are uint16/uint32, tensors int64)"
        )


def check_ids_below(name: str, ids, vocab_size: int) -> None:
    """Raise unless every id in the stream ``ids`` is below ``vocab_size``.

    One pass over the stream (a memory-mapped file is read, not loaded): a
    corrupt or mismatched token file must fail here with its name, not as an
    ``index out of range`` deep inside the embedding, and never train silently.
    """
    if len(ids) == 0:
        return
    largest = int(ids.max())
    if largest >= vocab_size:
        raise ValueError(
            f"{name} holds token id {largest}, but the model's vocabulary has {vocab_size} ids "
            f"(0 … {vocab_size - 1}): the token data does not belong to this tokenizer, or is "
            f"corrupt; prepare the corpus again"
        )

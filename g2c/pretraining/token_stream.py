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

"""Argument checks shared by the public API: one clear message per mistake (torch imported
lazily: ``g2c prepare`` uses them too and should not pay for it)."""

from __future__ import annotations

import sys

import numpy as np


class ReportedError(Exception):
    """An error whose message says everything (what happened, what to do): the command line
    prints it as one line, like a ValueError, instead of a traceback."""


def is_integer_dtype(dtype) -> bool:
    """True for torch or numpy integer dtypes (bool is not a token id)."""
    torch = sys.modules.get("torch")  # a torch dtype means torch is already imported
    if torch is not None and isinstance(dtype, torch.dtype):
        return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
    return np.issubdtype(np.dtype(dtype), np.integer)


def require_integer_tensor(name: str, value) -> None:
    """Raise TypeError unless ``value`` is a torch tensor of integer dtype."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer ids; got {type(value).__name__}")
    if not is_integer_dtype(value.dtype):
        raise TypeError(f"{name} must hold integer ids (e.g. torch.long); got dtype {value.dtype}")


def require_positive_int(name: str, value) -> int:
    """Return ``value`` if it is an int > 0, else raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int; got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value}")
    return int(value)

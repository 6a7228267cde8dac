"""Argument checks shared by the public API: one clear message per mistake (torch imported
lazily: ``g2c prepare`` uses them too and should not pay for it)."""

from __future__ import annotations

import os
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


def require_non_negative_int(name: str, value) -> int:
    """Return ``value`` if it is an int >= 0, else raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative int; got {value!r}")
    return int(value)


def require_choice(name: str, value, choices: tuple):
    """Return ``value`` if it is one of ``choices``, else raise naming the argument and them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def require_bool(name: str, value) -> bool:
    """Return ``value`` if it is True or False (not 0, 1 or "yes"), else raise TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value


def usable_cores() -> int:
    """CPU cores this process may run on: ``sched_getaffinity`` respects taskset and cgroup
    limits, which ``os.cpu_count`` does not."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1

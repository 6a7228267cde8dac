"""Pick where to train: "auto" is cuda if visible, else mps, else cpu.

``check_device_name`` is the spelling rule alone (no hardware touched);
``select_device`` adds what this machine has.
"""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def check_device_name(name) -> str:
    """Return ``name`` if it is "auto", "cpu", "cuda", "cuda:N" or "mps"; raise otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"device must be a string such as 'auto' or 'cpu'; got {type(name).__name__}")
    kind, _, index = name.partition(":")
    if kind not in DEVICE_CHOICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"device must be one of {DEVICE_CHOICES} (or 'cuda:N'); got {name!r}")
    return name


def select_device(name: str = "auto") -> torch.device:
    """Resolve a device name ("auto", "cpu", "cuda", "cuda:N", "mps") to a torch.device."""
    kind = check_device_name(name).split(":")[0]
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but no CUDA GPU is available; use 'cpu'")
    if kind == "mps" and not _mps_available():
        raise ValueError("device 'mps' was requested but this machine has no Apple MPS backend")
    return torch.device(name)

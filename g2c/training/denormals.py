"""Flush denormal floats to zero while a CPU run trains.

A float32 below about 1.2e-38 is *denormal* (subnormal): it trades exponent
range for lost precision, and x86 CPUs handle it in a slow microcode path,
tens of times slower than a normal multiply. Fresh models never produce
them. Trained ones do: AdamW's second moments of rarely-used weights decay
towards 1e-40, and far-off softmax tails reach it too. On the 2-core
reference machine this made the ShakespeareLM recipe run at 44–50k tokens/s
instead of 60–64k (docs/benchmarks.md, "Time to loss").

Flushing them to zero changes results only below 1e-38, where no weight
update can tell the difference, and both the original and a resumed run
flush, so ``--resume`` stays bit-exact.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def flush_denormals(enabled: bool = True):
    """Treat denormal floats as zero on the CPU inside the block (no-op when not ``enabled``)."""
    # PyTorch has no getter for the mode; its default is off, which is what we restore.
    applied = enabled and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if applied:
            torch.set_flush_denormal(False)

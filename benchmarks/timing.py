"""Shared timing helper for the benchmark scripts: best-of-N wall time."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], *, repeats: int = 20, warmup: int = 3) -> float:
    """Seconds for the fastest of ``repeats`` calls (after ``warmup`` calls).

    The minimum is the least noisy estimate on a shared machine: noise only
    ever adds time.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best

"""Shared timing helpers: interleaved rounds, ratios to a baseline, median (min-max).

These VMs drift 1.5x in speed from hour to hour, so no absolute time is a
result. Every script times its baseline and its candidates in the same
process, in rounds: round 1 measures each of them once, round 2 again, ...
(the order reversed every other round, so none always runs second), and
reports each candidate's per-round ratio to the baseline as the median and
the spread (min-max) over the rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def best_time(fn: Callable[[], object], *, repeats: int = 20, warmup: int = 3) -> float:
    """Seconds for the fastest of ``repeats`` calls (after ``warmup`` calls): within one
    round, noise only ever adds time."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(measures: dict[str, Callable[[], float]], rounds: int = 5) -> dict[str, list[float]]:
    """Call every measure (it returns seconds) once per round, alternating the order."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for index in range(rounds):
        names = list(measures)[:: 1 if index % 2 == 0 else -1]
        for name in names:
            times[name].append(measures[name]())
    return times


def interleaved_best(fns: dict[str, Callable[[], object]], rounds: int = 5, *, repeats: int = 5,
                     warmup: int = 1) -> dict[str, list[float]]:
    """Per round, the fastest of ``repeats`` calls of each function (see ``interleaved``)."""
    return interleaved({name: (lambda fn=fn: best_time(fn, repeats=repeats, warmup=warmup))
                        for name, fn in fns.items()}, rounds)


def ratios(times: dict[str, list[float]], baseline: str) -> dict[str, list[float]]:
    """Each entry's per-round time divided by the baseline's time in the same round."""
    return {name: [t / b for t, b in zip(values, times[baseline])]
            for name, values in times.items()}


def spread(values: Sequence[float], fmt: str = ".2f") -> str:
    """``median (min-max)``."""
    return (f"{statistics.median(values):{fmt}} "
            f"({min(values):{fmt}}-{max(values):{fmt}})")

"""Where a training loop's time goes: compute, drawing batches, evaluation, checkpoints.

"Compute" is a whole optimizer step, including drawing its batches
("sampling"). The rest of the step time (schedule, logging, bookkeeping) is
*overhead*, the share a faster loop could win back.
"""

from __future__ import annotations

import time

PARTS = ("compute", "sampling", "evaluation", "checkpoint")


class LoopTiming:
    """Seconds per part of the loop, added up over a ``fit``."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += seconds

    def timed(self, part: str, action):
        started = time.perf_counter()
        try:
            return action()
        finally:
            self.seconds[part] += time.perf_counter() - started

    def summary(self, loop_seconds: float, steps_run: int, tokens_run: int) -> dict:
        """The parts, plus throughput and the overhead fraction of the step time."""
        timing = dict(self.seconds)
        compute = timing["compute"] - timing["sampling"]
        step_seconds = loop_seconds - timing["evaluation"] - timing["checkpoint"]
        timing.update(
            loop=loop_seconds,
            steps=steps_run,
            tokens_per_second=tokens_run / max(loop_seconds, 1e-9),
            overhead_fraction=max(step_seconds - compute, 0.0) / max(step_seconds, 1e-9),
        )
        return timing

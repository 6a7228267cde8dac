"""The learning-rate schedule, and how long the run is: warm-up, cosine decay, a step budget.

    lr
    peak |     ______
         |    /      ‾‾‾‾--__
         |   /               ‾‾--__
    floor|  /                      ‾‾‾‾‾‾
         +--+---------------------------+--> step
           warm-up                  total steps

Warm-up (counted in steps) lets Adam's moment estimates settle before the
steps get large. After it, the rate follows half a cosine from ``peak`` to
``peak · min_lr_ratio`` as the step goes from the warm-up to ``total_steps``.

Worked example: peak 1e-3, floor ratio 0.1, warm-up 100 steps, 1000 steps in all.
    step 49 -> 5.0e-4 (half-way up);  step 550 -> 5.5e-4;  step 1000 -> 1e-4

**A time budget becomes a step budget.** ``max_time`` says "train for 76
seconds". A schedule that followed the wall clock would make every run, and
every resumed run, different: the same step gets another rate when the
machine is slower. So :class:`StepBudget` measures the speed of the first
steps and turns the remaining time into a number of steps, once; from then on
everything depends on steps only, and the budget is stored in checkpoints, so
``--resume`` continues bit-exactly. Until the budget is fixed (at least 6
steps and 5% of the time) the rate is the warm-up's, or the peak, which needs no total.
The speed is the *median* step time of the probe: one step stalled by another
program (a 5 s pause in a 0.15 s loop) would double the mean and halve the run.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

PROBE_STEPS = 5  # steps timed (after the first, which warms kernels up) to fix a time budget,
PROBE_FRACTION = 0.05  # and at least this share of the budget, so the speed is representative


@dataclass(frozen=True)
class WarmupCosineSchedule:
    peak: float
    min_lr_ratio: float
    warmup_steps: int

    def learning_rate(self, step: int, total_steps: int | None) -> float:
        """The rate for optimizer step ``step`` (0-based) of a run of ``total_steps``
        (None: not known yet, no decay)."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        if total_steps is None:
            return self.peak
        progress = min(step / total_steps, 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.peak * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)


class StepBudget:
    """How many optimizer steps the run takes: ``max_steps``, or what fits in ``max_time``.

        budget = StepBudget(max_steps=None, max_time=76.0)
        budget.record(step=..., elapsed=..., overhead_per_step=...)   # after every step
        budget.total          # None while probing, then fixed (and checkpointed)
        budget.reached(step)  # the run is over

    With both limits, the time budget is capped at ``max_steps``.
    """

    def __init__(self, max_steps: int | None, max_time: float | None) -> None:
        self.max_steps, self.max_time = max_steps, max_time
        self.total: int | None = max_steps if max_time is None else None
        self._last_elapsed: float | None = None  # after the first step (not timed)
        self._probe_steps: list[float] = []  # seconds of each timed step

    def record(self, *, step: int, elapsed: float, overhead_per_step: float = 0.0) -> None:
        """After ``step`` finished steps and ``elapsed`` training seconds: maybe fix the budget.

        ``elapsed`` must be the same on every rank (the trainer's agreed clock),
        so all ranks fix the same budget. ``overhead_per_step``: loop time spent
        outside training steps (evaluation, amortised), so the budget leaves
        room for it.
        """
        if self.total is not None:
            return
        # The first step compiles kernels and fills caches: time the ones after it.
        if self._last_elapsed is not None:
            self._probe_steps.append(elapsed - self._last_elapsed)
        self._last_elapsed = elapsed
        if len(self._probe_steps) >= PROBE_STEPS and elapsed >= PROBE_FRACTION * self.max_time:
            per_step = statistics.median(self._probe_steps) + overhead_per_step
            fits = step + int(max(self.max_time - elapsed, 0.0) / max(per_step, 1e-9))
            self.total = min(fits, self.max_steps or fits)
        if self.total is None and (elapsed >= self.max_time or step == self.max_steps):
            self.total = step  # the budget ran out while probing

    def reached(self, step: int) -> bool:
        return self.total is not None and step >= self.total

    def state_dict(self) -> dict:
        return {"total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.total = state["total"]

"""The learning-rate schedule: linear warm-up, then cosine decay to a floor.

    lr
    peak |     ______
         |    /      ‾‾‾‾--__
         |   /               ‾‾--__
    floor|  /                      ‾‾‾‾‾‾
         +--+---------------------------+--> progress
           warm-up                     1.0

Warm-up (counted in steps) lets Adam's moment estimates settle before the
steps get large. After it, the rate follows half a cosine from ``peak`` to
``peak · min_lr_ratio`` as *progress* goes from 0 to 1. Progress is the
larger of ``step / max_steps`` and ``elapsed / max_time``: with a wall-clock
budget the decay is spread over the budget, so a time-limited run ends fully
decayed instead of being cut off at a high learning rate.

Worked example: peak 1e-3, floor ratio 0.1, warm-up 100 steps.
    step 49  -> 5.0e-4 (half-way up);  progress 0.5 -> 5.5e-4;  progress 1 -> 1e-4
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosineSchedule:
    peak: float
    min_lr_ratio: float
    warmup_steps: int
    max_steps: int | None = None
    max_time: float | None = None

    def progress(self, step: int, elapsed: float) -> float:
        """How far through the run we are, 0 … 1, by steps or by seconds."""
        fractions = [0.0]
        if self.max_steps is not None:
            fractions.append(step / self.max_steps)
        if self.max_time is not None:
            fractions.append(elapsed / self.max_time)
        return min(max(fractions), 1.0)

    def learning_rate(self, step: int, elapsed: float = 0.0) -> float:
        """The rate for optimizer step ``step`` (0-based) after ``elapsed`` seconds."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * self.progress(step, elapsed)))
        return self.peak * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)

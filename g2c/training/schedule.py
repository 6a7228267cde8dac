"""The learning-rate schedule, and how long the run is: warm-up, decay, a step budget.

Two shapes, both with a linear warm-up (counted in steps) that lets Adam's
moment estimates settle before the steps get large:

    cosine (default)                     wsd: warm-up, stable, decay
    lr                                   lr
    peak |   ______                      peak |   ________________
         |  /      ‾‾‾‾--__                   |  /                ‾‾--__
    floor| /               ‾‾‾‾‾         floor| /                       ‾‾
         +-+-----------------+--> step        +-+-----------------+-------+--> step
          warm-up          total               warm-up   decay start   total

**Cosine** follows half a cosine from ``peak`` to ``peak · min_lr_ratio`` as
the step goes from the warm-up to ``total_steps``. **Warmup-stable-decay**
holds the peak and decays linearly to the floor over the last
``decay_fraction`` of the run. Its rate needs the run's length only when the
decay starts, which is what makes it the better fit for a time budget (below).

Worked example: peak 1e-3, floor ratio 0.1, warm-up 100 steps, 1000 steps in all.
    cosine:              step 49 -> 5.0e-4 (half-way up);  step 550 -> 5.5e-4;  step 1000 -> 1e-4
    wsd, decay 0.5:      step 49 -> 5.0e-4;  step 499 -> 1e-3;  step 750 -> 5.5e-4;  step 1000 -> 1e-4

**A time budget becomes a step budget.** ``max_time`` says "train for 76
seconds", but a schedule's rate is a function of the step and of the run's
length in steps. So :class:`StepBudget` measures the speed of the steps and
turns the remaining time into a number of steps at the last moment the
schedule allows: the first step whose rate depends on the total (the end of
the warm-up for cosine, the start of the decay for wsd). The later the budget
is fixed, the more steps it has measured and the less of the run is left for
the machine's speed to drift: fixed after 6 steps, runs with a 171 s budget
on the 2-core reference machine took anywhere from 91 to 192 s; fixed at half
the run, still 87-108% of their budget (docs/benchmarks.md, "Time to loss",
earlier measurements). So wsd does not stop there: at every later log step
the budget prices the time left again and, when it holds another number of
steps, *re-aims* the decay: the rate runs straight from where it is to the
floor at the new end, without a jump. Cosine is fixed once: its curve runs
through the total and cannot bend without one. The plan (the total and the
last re-aim) is stored in checkpoints, so ``--resume`` continues it; a
``max_steps`` run never reads the clock and resumes bit-exactly.

The speed is the *median* seconds per token of the windows between the
trainer's log steps: one window stalled by another program (a 5 s pause in a
0.15 s loop) would otherwise shorten the whole run. It takes three windows to
outvote one (a 1.0x ShakespeareLM run fixed on two, just after its batch
grew, ended at 133 s of 155), so a budget waits for at least three. Per token,
because a batch ramp (``TrainingConfig.start_batch_size``) changes the tokens
per step: when the batch grows the speed is measured afresh (a bigger batch
costs less per token). Until the bigger steps have been timed, the plan can
only price them at the smaller steps' speed per token, which is too dear, so a
run fixed that way ends early (ShakespeareLM's runs of 157 s took 140-154 s;
docs/benchmarks.md, "Time to loss"). So wsd waits for them: its total is fixed
once the bigger steps are measured, a few windows after its decay start, and
its rate steps down by a few percent there (in hindsight, the decay began at
its start). Cosine cannot wait, because its rate bends from the end of the
warm-up on; it plans the bigger steps at the speed measured so far
(:class:`StepSizes`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

PROBE_WINDOWS = 3  # timed windows (after the first, which warms kernels up) to fix a budget,
PROBE_FRACTION = 0.05  # and at least this share of the budget, so the speed is representative
RECENT_WINDOWS = 20  # the speed is the median of the latest windows: the machine's, now
LR_SCHEDULES = ("cosine", "wsd")  # see TrainingConfig.lr_schedule


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

    def decay_start(self, total_steps: int) -> int:
        """The first step whose rate depends on ``total_steps``: the end of the warm-up."""
        return self.warmup_steps

    waits_for_measured_steps = False  # fixed late, the rate would jump down the cosine
    can_reaim = False  # its whole decay is one curve through the total


@dataclass(frozen=True)
class WarmupStableDecaySchedule:
    peak: float
    min_lr_ratio: float
    warmup_steps: int
    decay_fraction: float  # the last this much of the run decays linearly to the floor

    def learning_rate(self, step: int, total_steps: int | None,
                      reaimed: tuple[int, float] | None = None) -> float:
        """The rate for optimizer step ``step`` (0-based) of a run of ``total_steps``
        (None: not known yet, the peak). ``reaimed = (step, rate)``: the decay was
        re-aimed there at a new ``total_steps`` and runs straight from that rate to
        the floor (:meth:`StepBudget.record`)."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        if total_steps is None:
            return self.peak
        if reaimed is None:
            if step < (start := self.decay_start(total_steps)):
                return self.peak
            reaimed = (start, self.peak)
        start, rate = reaimed
        progress = min(max(step - start, 0) / max(total_steps - start, 1), 1.0)
        return rate + (self.peak * self.min_lr_ratio - rate) * progress

    def decay_start(self, total_steps: int) -> int:
        """The first step whose rate depends on ``total_steps``: where the decay begins."""
        return max(self.warmup_steps, int(total_steps * (1.0 - self.decay_fraction)))

    waits_for_measured_steps = True  # fixed a few windows late, the rate steps down a little
    can_reaim = True  # a straight decay can bend to a new end while it runs


def make_schedule(config) -> WarmupCosineSchedule | WarmupStableDecaySchedule:
    """The schedule a :class:`~g2c.training.config.TrainingConfig` asks for."""
    if config.lr_schedule == "wsd":
        return WarmupStableDecaySchedule(config.learning_rate, config.min_lr_ratio,
                                         config.warmup_steps, config.decay_fraction)
    return WarmupCosineSchedule(config.learning_rate, config.min_lr_ratio, config.warmup_steps)


@dataclass(frozen=True)
class StepSizes:
    """Tokens per optimizer step: ``start`` until ``ramp_tokens`` tokens are seen, then ``full``
    (a batch-size ramp, ``TrainingConfig.start_batch_size``; without one, ``full`` throughout)."""

    full: int
    start: int | None = None
    ramp_tokens: int = 0

    def at(self, tokens_seen: int) -> int:
        return self.start if self.start and tokens_seen < self.ramp_tokens else self.full

    def steps_before_full(self, tokens_seen: int) -> int:
        """How many more ``start``-sized steps come before the first ``full`` one."""
        if not self.start or tokens_seen >= self.ramp_tokens:
            return 0
        return -(-(self.ramp_tokens - tokens_seen) // self.start)  # ceil

    def steps_that_fit(self, seconds: float, tokens_seen: int, seconds_per_token: float,
                       overhead_per_step: float) -> int:
        """How many more steps ``seconds`` hold, at this speed, from ``tokens_seen`` on."""
        steps = 0
        if ramp_steps := self.steps_before_full(tokens_seen):
            cost = seconds_per_token * self.start + overhead_per_step
            if seconds < ramp_steps * cost:
                return int(seconds / max(cost, 1e-12))
            steps, seconds = ramp_steps, seconds - ramp_steps * cost
        return steps + int(seconds / max(seconds_per_token * self.full + overhead_per_step,
                                         1e-12))


class StepBudget:
    """How many optimizer steps the run takes: ``max_steps``, or what fits in ``max_time``.

        budget = StepBudget(max_steps=None, max_time=76.0, schedule=schedule,
                            sizes=StepSizes(full=2048))
        budget.record(step=..., elapsed=..., tokens=..., overhead_per_step=...)  # log steps
        budget.total          # None while measuring, then fixed (and checkpointed)
        budget.learning_rate(step)  # the schedule's rate for this run
        budget.reached(step)  # the run is over

    With both limits, the time budget is capped at ``max_steps``. The speed is
    measured in seconds per token, over the windows at the current step size
    (a batch ramp starts a new measurement: a bigger batch costs less per token).
    Once fixed, a decay that can bend (wsd's) is re-aimed at every log step at
    the steps the time left holds, so the run ends when its time does however
    the machine's speed drifts: worked example in ``record``.
    """

    def __init__(self, max_steps: int | None, max_time: float | None, schedule,
                 sizes: StepSizes) -> None:
        self.max_steps, self.max_time = max_steps, max_time
        self.schedule, self.sizes = schedule, sizes
        self.total: int | None = max_steps if max_time is None else None
        self.reaimed: tuple[int, float] | None = None  # (step, rate) of the last re-aim
        self._last: tuple[int, float, int] | None = None  # (step, elapsed, tokens) last time
        self._seconds_per_token: list[float] = []  # one entry per timed window ...
        self._measured_size: int | None = None  # ... of steps of this many tokens

    def learning_rate(self, step: int) -> float:
        """The rate for optimizer step ``step`` of this run, as planned so far."""
        if self.reaimed is None:
            return self.schedule.learning_rate(step, self.total)
        return self.schedule.learning_rate(step, self.total, self.reaimed)

    def record(self, *, step: int, elapsed: float, tokens: int,
               overhead_per_step: float = 0.0) -> None:
        """After ``step`` finished steps, ``tokens`` tokens and ``elapsed`` training seconds:
        maybe fix the budget, or re-aim the decay.

        Called at the trainer's log steps, each closing a window of steps.
        ``elapsed`` must be the same on every rank (the trainer's agreed clock),
        so all ranks plan the same steps. ``overhead_per_step``: loop time spent
        outside training steps (evaluation, amortised), so the budget leaves
        room for it.

        Re-aiming, worked example: wsd from 1e-3 to a floor of 1e-4, fixed at 100
        steps with its decay from step 50. At step 70 the rate is 6.4e-4; the
        machine has slowed and the time left now holds 20 steps, not 30: the
        total becomes 90 and the rate runs straight from 6.4e-4 at step 70 to the
        floor at step 90 (``reaimed = (70, 6.4e-4)``, checkpointed with the total).
        """
        reaiming = (self.total is not None and self.max_time is not None
                    and self.schedule.can_reaim)
        if self.total is not None and not (reaiming and step < self.total):
            return
        # The first window holds the first step, which compiles kernels and fills caches.
        if self._last is not None and step > self._last[0]:
            first, last = self.sizes.at(self._last[2]), self.sizes.at(tokens - 1)
            if last != self._measured_size:  # the batch grew: measure it afresh
                self._seconds_per_token.clear()
                self._measured_size = last
            if first == last:  # a window across the change measures neither size
                self._seconds_per_token.append((elapsed - self._last[1]) / (tokens - self._last[2]))
        self._last = (step, elapsed, tokens)
        if elapsed >= self.max_time or step == self.max_steps:
            self.total = step  # the budget ran out (while measuring, or the machine slowed)
            return
        if len(self._seconds_per_token) < PROBE_WINDOWS or elapsed < PROBE_FRACTION * self.max_time:
            return
        # A re-aim prices the rest of the run, which is short, at the machine's speed now.
        recent = PROBE_WINDOWS if reaiming else RECENT_WINDOWS
        per_token = statistics.median(self._seconds_per_token[-recent:])
        fits = step + self.sizes.steps_that_fit(self.max_time - elapsed, tokens, per_token,
                                                overhead_per_step)
        projected = min(fits, self.max_steps or fits)
        if reaiming:
            if (end := max(projected, step + 1)) != self.total:
                self.reaimed, self.total = (step, self.learning_rate(step)), end
            return
        guessed = (self._measured_size != self.sizes.full  # full-size steps planned, not timed
                   and projected > step + self.sizes.steps_before_full(tokens))
        if guessed and self.schedule.waits_for_measured_steps:
            return
        if step >= self.schedule.decay_start(projected):
            self.total = max(projected, step)

    def reached(self, step: int) -> bool:
        return self.total is not None and step >= self.total

    def state_dict(self) -> dict:
        return {"total": self.total, "reaimed": self.reaimed}

    def load_state_dict(self, state: dict) -> None:
        self.total = state["total"]
        self.reaimed = state.get("reaimed")  # checkpoints from before re-aiming have none

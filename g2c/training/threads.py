"""Keep a time-budgeted CPU run fast when another program grabs a core.

PyTorch's CPU threads *spin* while they wait for each other at the end of
every op. When another program takes a core, a descheduled partner makes the
spinning thread waste its time slice: a 40 ms step takes a second or more
(25-80x on the 2-core reference machine; docs/benchmarks.md, "Time to loss").

``ThreadGuard`` measures all threads and one thread (no partner to wait for),
trains with the faster and re-measures the other now and then with a few
steps. A probe must win by 10%: five steps are a noisy measurement, and a
wrong switch to one thread on an idle machine costs ~40% per step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

WINDOW = 20  # steps per measurement on the thread count in use ...
PROBE = 5  # ... and of the other count (short: it may be the slow one)
WINDOW_SECONDS = 0.5  # a measurement also ends after this long: slow steps decide fast
# Windows before the other count is measured again, doubled after each lost probe
# and reset after a won one: all threads after one window (a wrong move to one
# thread must be undone at once), one thread every RECHECK.
RECHECK = 10
RETURN = 1
MAX_RECHECK = 160
MARGIN = 0.9  # the other count must be this much faster (10%) to take over: noise is not
ABORT = 2.0  # a probe step this many times slower than the current mean ends the probe


class ThreadGuard:
    """Choose between all threads and one, by measured step time.

        guard = ThreadGuard(torch.get_num_threads())
        for each step: guard.record(seconds_the_step_took)   # may call torch.set_num_threads
    """

    def __init__(self, threads: int) -> None:
        self.choices = (threads, 1)
        self.current = threads
        self.mean = {threads: None, 1: None}  # latest measured seconds per step
        self.windows_since = {threads: 0, 1: RECHECK}  # measure one thread early on
        self.first_recheck = {threads: RETURN, 1: RECHECK}
        self.recheck = dict(self.first_recheck)
        self.probing_from: int | None = None
        self.switches = 0
        self._seconds, self._steps = 0.0, 0
        self._warmup = 1  # the first step sets up kernels and caches: not representative

    def record(self, step_seconds: float) -> None:
        """Add one step's time; at the end of a window maybe change the thread count."""
        if self._warmup:
            self._warmup -= 1
            return
        if self.probing_from is not None and self.mean[self.probing_from] is not None \
                and step_seconds > ABORT * self.mean[self.probing_from]:
            self._lost_probe()  # clearly losing: stop paying for it
            return
        self._seconds += step_seconds
        self._steps += 1
        if self._steps < (PROBE if self.probing_from is not None else WINDOW) \
                and self._seconds < WINDOW_SECONDS:
            return
        self.mean[self.current] = self._seconds / self._steps
        self.windows_since[self.current] = 0
        if self.probing_from is not None and \
                self.mean[self.current] >= MARGIN * self.mean[self.probing_from]:
            self._lost_probe()
            return
        if self.probing_from is not None:
            self.recheck[self.current] = self.first_recheck[self.current]
        other = self.choices[1] if self.current == self.choices[0] else self.choices[0]
        self.windows_since[other] += 1
        if self.windows_since[other] > self.recheck[other]:
            self._use(other, probe=True)
        elif self.mean[other] is not None and self.mean[other] < MARGIN * self.mean[self.current]:
            self._use(other)
        else:
            self._use(self.current)

    def _lost_probe(self) -> None:
        self.windows_since[self.current] = 0
        self.recheck[self.current] = min(2 * self.recheck[self.current], MAX_RECHECK)
        self._use(self.probing_from)

    def _use(self, threads: int, *, probe: bool = False) -> None:
        self.probing_from = self.current if probe else None
        self._seconds, self._steps = 0.0, 0
        if threads != self.current:
            self.current = threads
            self.switches += 1
            torch.set_num_threads(threads)

    def restore(self) -> None:
        """Leave PyTorch with the thread count the run started with."""
        if self.current != self.choices[0]:
            torch.set_num_threads(self.choices[0])


@contextmanager
def single_thread():
    """Run a block on one CPU thread: for generation, where every op is so tiny that a
    second thread saves little and, on a busy machine, can cost a hundred times that."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

"""The CPU-speed policy: every machine-specific trick of a CPU run, behind one switch.

On a CPU four things make a step measurably faster (docs/benchmarks.md, "Time
to loss"): ``precision="auto"`` is bf16 only where the CPU multiplies it in
hardware (emulated bf16 is slower than fp32); bf16 attention as three explicit
ops (PyTorch 2.13's fused kernel has a slow bf16 backward on CPUs); denormals
flushed to 0 (x86 handles them in slow microcode, and AdamW's moments of rare
weights make them); and a ThreadGuard for time-budgeted runs (``threads.py``).
``cpu_tuning=False`` (``--no-cpu-tuning``) turns all four off; on a GPU none applies.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

from g2c.training.threads import ThreadGuard

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo names of the two features


@cache
def native_cpu_bf16() -> bool:
    """True when Linux's ``/proc/cpuinfo`` says this CPU multiplies bf16 in hardware."""
    cpuinfo = Path("/proc/cpuinfo")
    if not sys.platform.startswith("linux") or not cpuinfo.is_file():
        return False
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in NATIVE_BF16_FLAGS)
    return False


class CpuTuning:
    """What a run on ``device`` does to go fast on a CPU (nothing elsewhere, or when disabled)."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.active = bool(enabled) and torch.device(device).type == "cpu"
        self.thread_guard: ThreadGuard | None = None  # set while running()

    @property
    def native_bf16(self) -> bool:
        return self.active and native_cpu_bf16()

    def prepare(self, model: torch.nn.Module, precision: str) -> None:
        if hasattr(model, "set_cpu_bf16_attention"):
            model.set_cpu_bf16_attention(self.active and precision == "bf16")

    @contextmanager
    def running(self, *, max_time: float | None, threads: int | None, compiled: bool = False):
        """The run's span: denormals flushed, and a ThreadGuard for a time-budgeted run that
        left the thread count to PyTorch (a step-limited run keeps it, so a resumed run
        repeats an unbroken one bit for bit); both undone on the way out.

        A ``torch.compile``d run keeps its thread count too: the compiled graph is
        specialised to it, so every switch would compile the model again (one ShakespeareLM
        run with ``--compile --max-time 150`` made 410 steps that way, against 770 without)."""
        adapt = self.active and max_time is not None and threads is None and not compiled \
            and torch.get_num_threads() > 1
        self.thread_guard = ThreadGuard(torch.get_num_threads()) if adapt else None
        # PyTorch has no getter for the denormal mode; its default is off, which we restore.
        flushed = self.active and torch.set_flush_denormal(True)
        try:
            yield
        finally:
            if flushed:
                torch.set_flush_denormal(False)
            if self.thread_guard is not None:
                self.thread_guard.restore()

    def record_step(self, seconds: float) -> None:
        if self.thread_guard is not None:
            self.thread_guard.record(seconds)

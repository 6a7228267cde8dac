"""What a run shows while it trains: a progress bar, or plain log lines.

    step 1200/2000 ━━━━━━━━━━━━━━━━━╸━━━━━━━  60% 00:41<00:27  loss=1.712 val=1.803 tok/s=61.2k

The bar (tqdm) counts steps, or seconds when the run has a wall-clock budget,
and is redrawn at most four times a second. ``quiet=True`` prints one plain
line per evaluation instead (for log files and CI).
"""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

REDRAW_SECONDS = 0.25


class ProgressReporter:
    """A tqdm bar, one line per evaluation (``quiet``), or nothing (``enabled=False``), on stderr."""

    def __init__(self, *, max_steps: int | None, max_time: float | None, quiet: bool,
                 start_step: int = 0, start_elapsed: float = 0.0, enabled: bool = True) -> None:
        self.enabled = enabled
        self.quiet = quiet
        # A time budget drives the bar when there is one: steps/s is what we do not know.
        self.by_time = max_time is not None
        self.bar = None
        # The last log window's mean training loss: already an average over its steps. (A
        # running average over windows on top lagged by ~10 windows: a 20 s run's bar said
        # 2.68 when its loss was 1.9.)
        self.window_loss = None
        self.last_draw = 0.0
        self.latest = None
        if enabled and not quiet:
            total = max_time if self.by_time else max_steps
            self.bar = tqdm(
                total=total, initial=start_elapsed if self.by_time else start_step,
                unit="s" if self.by_time else "step", dynamic_ncols=True, mininterval=0.1,
                file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} "
                "[{elapsed}<{remaining}{postfix}]",
            )

    def update(self, *, step: int, elapsed: float, tokens_per_second: float,
               train_loss: float | None = None, val_loss: float | None = None) -> None:
        """Called after every step (``train_loss``, a log window's mean, at log steps only);
        redraws when due."""
        if self.bar is None:
            return
        if train_loss is not None:
            self.window_loss = train_loss
        self.latest = (step, elapsed, val_loss, tokens_per_second)
        now = time.perf_counter()
        if now - self.last_draw >= REDRAW_SECONDS:
            self.last_draw = now
            self._draw()

    def _draw(self) -> None:
        step, elapsed, val_loss, tokens_per_second = self.latest
        self.bar.n = min(elapsed, self.bar.total) if self.by_time else step
        postfix = f"step={step}"
        if self.window_loss is not None:
            postfix += f" loss={self.window_loss:.3f}"
        if val_loss is not None:
            postfix += f" val={val_loss:.3f}"
        self.bar.set_postfix_str(postfix + f" tok/s={tokens_per_second / 1000:.1f}k", refresh=False)
        self.bar.refresh()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def evaluation(self, record: dict) -> None:
        """Report one evaluation record: a log line in quiet mode (the bar shows it otherwise)."""
        if self.enabled and self.quiet:
            bpb = "" if record.get("val_bpb") is None else f" ({record['val_bpb']:.3f} bits/byte)"
            self.message(f"step {record['step']:>6}  train {record['train_loss']:.4f}  val "
                         f"{record['val_loss']:.4f}{bpb}  "
                         f"{record['tokens_per_second'] / 1000:.1f}k tok/s  "
                         f"{record['seconds']:.1f}s")

    def close(self) -> None:
        """Draw the final state and end the bar (safe to call twice)."""
        if self.bar is not None:
            if self.latest is not None:
                self._draw()
            self.bar.close()
            self.bar = None

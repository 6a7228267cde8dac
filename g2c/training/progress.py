"""What a run shows while it trains: a progress bar, or plain log lines.

    step 1200/2000 ━━━━━━━━━━━━━━━━━╸━━━━━━━  60% 00:41<00:27  loss=1.712 val=1.803 tok/s=61.2k

The bar (tqdm) counts steps, or seconds when the run has a wall-clock
budget, so its ETA is honest either way. It redraws at most ten times a
second and its text is rebuilt only every ``log_interval`` steps, so drawing
costs well under a percent of a step. ``quiet=True`` prints one plain line per
evaluation instead — right for log files and CI, where a redrawn bar is noise.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class ProgressReporter:
    """Either a tqdm bar or one line per evaluation (``quiet``), on stderr."""

    def __init__(self, *, max_steps: int | None, max_time: float | None, quiet: bool,
                 start_step: int = 0, start_elapsed: float = 0.0) -> None:
        self.quiet = quiet
        # A time budget drives the bar when there is one: steps/s is what we do not know.
        self.by_time = max_time is not None
        self.bar = None
        if not quiet:
            total = max_time if self.by_time else max_steps
            self.bar = tqdm(
                total=total, initial=start_elapsed if self.by_time else start_step,
                unit="s" if self.by_time else "step", dynamic_ncols=True, mininterval=0.1,
                file=sys.stderr, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} "
                "[{elapsed}<{remaining}{postfix}]",
            )

    def update(self, *, step: int, elapsed: float, train_loss: float, val_loss: float | None,
               tokens_per_second: float) -> None:
        """Refresh the bar's position and text (called every ``log_interval`` steps)."""
        if self.bar is None:
            return
        self.bar.n = min(elapsed, self.bar.total) if self.by_time else step
        postfix = f"step={step} loss={train_loss:.3f}"
        if val_loss is not None:
            postfix += f" val={val_loss:.3f}"
        self.bar.set_postfix_str(postfix + f" tok/s={tokens_per_second / 1000:.1f}k", refresh=False)
        self.bar.refresh()

    def message(self, text: str) -> None:
        """Print a line without breaking the bar."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def evaluation(self, *, step: int, elapsed: float, train_loss: float, val_loss: float,
                   tokens_per_second: float) -> None:
        """Report one evaluation: a log line in quiet mode, the bar's text otherwise."""
        if self.quiet:
            self.message(f"step {step:>6}  train {train_loss:.4f}  val {val_loss:.4f}  "
                         f"{tokens_per_second / 1000:.1f}k tok/s  {elapsed:.1f}s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

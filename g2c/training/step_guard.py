"""Non-finite steps are skipped on the device, and the ranks agree only now and then.

Reading the loss back after every step to decide "stop?" would make the CPU
wait for the GPU once per step. Instead a step's ``broken`` flag (non-finite
loss or gradient norm) stays a 0-d tensor: the fused AdamW takes it as
``found_inf`` and leaves the weights untouched, and :meth:`StepGuard.note`
counts it on the device. At log, evaluation and checkpoint steps
:meth:`StepGuard.check` reads the count once and makes one all-reduce: did any
rank skip *every* step since the last check (diverged), did anyone press
Ctrl-C, and what is the shared clock. So Ctrl-C takes effect at the next check.
"""

from __future__ import annotations

import torch

from g2c.training.distributed import DistributedContext
from g2c.validation import ReportedError


class TrainingDiverged(ReportedError, RuntimeError):
    """Every step since the last check had a non-finite loss or gradient; none changed the
    weights."""


class StepGuard:
    """Skipped-step bookkeeping for one run."""

    def __init__(self, device: torch.device) -> None:
        # [steps skipped since the last check, first skipped step, its loss, its grad norm]
        self._bad = torch.zeros(4, device=device)
        self.checked_step = 0
        self.skipped = 0  # skipped steps before the last check (reported in the result)

    def note(self, step: int, broken: torch.Tensor, loss: torch.Tensor,
             grad_norm: torch.Tensor) -> None:
        """Record optimizer step ``step`` (1-based); ``broken`` a 0-d bool tensor. No host read."""
        first = broken & (self._bad[0] == 0)
        details = torch.stack([torch.full_like(loss, step), loss.detach().float(),
                               grad_norm.detach().float()])
        self._bad[1:] = torch.where(first, details, self._bad[1:])
        self._bad[0] += broken

    def check(self, context: DistributedContext, *, step: int, stop_requested: bool,
              elapsed: float, checkpoint: tuple) -> tuple[bool, float, int]:
        """One host read and one all-reduce: (stop?, shared elapsed seconds, steps skipped
        since the last check). Raises TrainingDiverged if every step since then was skipped,
        naming the last good ``checkpoint`` (its step and path; step None: none written)."""
        count, first_step, first_loss, first_norm = self._bad.tolist()
        since, steps = self.checked_step, step - self.checked_step
        everything_broke = steps > 0 and count >= steps
        diverged, stopping, elapsed = context.agree_after_step(
            diverged=everything_broke, stop_requested=stop_requested,
            elapsed=elapsed)
        if diverged:
            kept = ("no checkpoint had been written yet" if checkpoint[0] is None else
                    f"the last good checkpoint (step {checkpoint[0]}) is kept at "
                    f"{checkpoint[1]}")
            raise TrainingDiverged(
                f"every step since step {since} had a non-finite loss or gradient (the first at "
                f"step {int(first_step)}: the training loss became {first_loss}, gradient norm "
                f"{first_norm}); none of them changed the weights, and {kept}. Try a lower "
                f"learning_rate or grad_clip.")
        self._bad.zero_()
        self.checked_step = step
        self.skipped += int(count)
        return stopping, elapsed, int(count)

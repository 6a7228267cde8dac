"""What a run remembers of its curves: history for plots, records for metrics.jsonl.

Between log steps the losses and gradient norms are only *added up* on the
device; ``close_window`` reads the sums back once and records the means. The
open window is part of the checkpoint, so a resumed run records exactly the
points an unbroken run would.
"""

from __future__ import annotations

import torch


class TrainingLog:
    """The history of one run and its not-yet-recorded step sums."""

    def __init__(self, device: torch.device, *, on_log=None) -> None:
        self.device = device
        self.on_log = on_log
        self.history = {"train": [], "val": [], "val_bpb": [], "lr": [], "grad_norm": []}
        self._open_window(0.0, 0.0, 0.0, 0)

    def _open_window(self, loss_sum: float, norm_sum: float, kept: float, steps: int) -> None:
        # [loss, gradient norm, steps not skipped], summed on the device: one read per record
        self._sums = torch.tensor([loss_sum, norm_sum, kept], device=self.device)
        self.window_steps = steps

    def add_step(self, loss: torch.Tensor, grad_norm: torch.Tensor, kept: torch.Tensor) -> None:
        """One step's loss and pre-clip gradient norm, as 0-d tensors: nothing is read back."""
        self._sums += torch.stack([loss.detach().float(), grad_norm.detach().float(),
                                   kept.float()])
        self.window_steps += 1

    def close_window(self, *, step: int, tokens: int, seconds: float, lr: float,
                     tokens_per_second: float) -> dict:
        """Record the means since the last record; return the metrics record."""
        loss_sum, norm_sum, kept = self._sums.tolist()
        steps = kept or float("nan")  # a window of skipped steps has no mean
        record = {"step": step, "tokens": tokens, "seconds": seconds,
                  "train_loss": loss_sum / steps, "lr": lr, "grad_norm": norm_sum / steps,
                  "tokens_per_second": tokens_per_second}
        for key, value in (("train", record["train_loss"]), ("grad_norm", record["grad_norm"]),
                           ("lr", lr)):
            self.history[key].append((step, value))
        self._open_window(0.0, 0.0, 0.0, 0)
        return record

    def add_validation(self, step: int, loss: float, bits_per_byte: float | None) -> dict:
        self.history["val"].append((step, loss))
        self.history["val_bpb"].append((step, bits_per_byte))
        return {"val_loss": loss, "val_bpb": bits_per_byte}

    def emit(self, record: dict) -> None:
        if self.on_log is not None:
            self.on_log(record)

    def state_dict(self) -> dict:
        return {"history": self.history,
                "window": [*self._sums.tolist(), self.window_steps]}

    def load_state_dict(self, state: dict) -> None:
        self.history = state["history"]
        self._open_window(*state["window"])

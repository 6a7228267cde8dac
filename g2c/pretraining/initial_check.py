"""The step-0 sanity check: a fresh model should be about uniformly unsure.

A model that has learned nothing spreads probability evenly over the V
tokens, so its loss is ``-log(1/V) = log(V)`` (4.17 for V = 65, 10.83 for
V = 50,257). Before the first update the measured loss should sit near it:
far below, the model already "knows" the answers (a bug, :data:`SUSPECTS_TOO_LOW`);
far above, its initial logits are too confident (:data:`SUSPECTS_TOO_HIGH`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from g2c.pretraining.loss import lm_cross_entropy

SUSPECTS_TOO_LOW = (
    "targets equal to the inputs (y not shifted by one)",
    "a wrong reshape pairing logits with the wrong targets",
    "attention that can see future tokens",
    "trivial or repetitive data",
    "a model that was already trained (a loaded checkpoint)",
)
SUSPECTS_TOO_HIGH = ("an initialisation that makes the first logits over-confident",)


@dataclass(frozen=True)
class InitialLossReport:
    """Measured step-0 loss next to the uniform baseline log(V)."""

    loss: float
    log_vocab: float
    verdict: str  # "ok", "too_low" or "too_high"

    @property
    def ratio(self) -> float:
        return self.loss / self.log_vocab

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def explain(self) -> str:
        head = (
            f"step-0 loss {self.loss:.4f} vs log(V) {self.log_vocab:.4f} "
            f"(ratio {self.ratio:.3f}): {self.verdict}"
        )
        if self.verdict == "ok":
            return head + " — a fresh model is about uniformly unsure, as it should be."
        suspects = SUSPECTS_TOO_LOW if self.verdict == "too_low" else SUSPECTS_TOO_HIGH
        return head + "\nSuspect: " + "; ".join(suspects) + "."


def initial_loss_check(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    vocab_size: int | None = None,
    tolerance: float = 0.1,
) -> InitialLossReport:
    """Measure ``model``'s loss on one (x, y) batch and compare it with log(V).

    ``tolerance`` is relative: the verdict is "ok" while the loss lies within
    ``(1 ± tolerance) · log(V)``. V is read from the logits unless given.
    """
    if not 0.0 < tolerance < 1.0:
        raise ValueError(f"tolerance must be between 0 and 1; got {tolerance}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x)
            loss = float(lm_cross_entropy(logits, y))
    finally:
        model.train(was_training)
    vocab = vocab_size if vocab_size is not None else logits.shape[-1]
    log_vocab = math.log(vocab)
    if loss < (1 - tolerance) * log_vocab:
        verdict = "too_low"
    elif loss > (1 + tolerance) * log_vocab:
        verdict = "too_high"
    else:
        verdict = "ok"
    return InitialLossReport(loss=loss, log_vocab=log_vocab, verdict=verdict)

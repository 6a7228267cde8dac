"""Fixtures shared by the trainer tests."""

import pytest


@pytest.fixture
def interrupt_after():
    """``interrupt_after(trainer, k)``: the trainer stops as Ctrl-C would once step k is done."""

    def arm(trainer, steps: int) -> None:
        real_step = trainer._train_step

        def step_then_maybe_stop():
            loss = real_step()
            if trainer.step + 1 == steps:
                trainer._stop_requested = True  # what Ctrl-C sets
            return loss

        trainer._train_step = step_then_maybe_stop

    return arm

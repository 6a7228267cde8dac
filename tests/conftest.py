"""Fixtures shared by the trainer tests."""

import pytest


@pytest.fixture
def interrupt_after():
    """``interrupt_after(trainer, k)``: the trainer stops as Ctrl-C would once step k is done."""

    def arm(trainer, steps: int) -> None:
        real_step = trainer._train_step

        def stop_during_step_k():
            if trainer.step + 1 == steps:  # step k is about to run
                trainer.request_stop()  # what Ctrl-C does
            real_step()

        trainer._train_step = stop_during_step_k

    return arm

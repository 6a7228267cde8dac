"""Fixtures shared by the trainer tests, and the ``cuda`` marker's skip rule."""

import pytest
import torch

CUDA_SKIP_REASON = ("needs a CUDA GPU, and this machine has none "
                    "(benchmarks/gpu_check.sh runs these tests on one)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip ``@pytest.mark.cuda`` tests without a GPU. The skip is raised here, not by a
    skip mark, so pytest's ``-ra`` summary folds them into one line with their count:
    ``SKIPPED [7] tests/conftest.py:…: needs a CUDA GPU, …``."""
    if item.get_closest_marker("cuda") and not torch.cuda.is_available():
        pytest.skip(CUDA_SKIP_REASON)


@pytest.fixture
def interrupt_after():
    """``interrupt_after(trainer, k)``: Ctrl-C during step k; the trainer stops as it would,
    at the next check (every ``log_interval`` steps: step_guard.py)."""

    def arm(trainer, steps: int) -> None:
        real_step = trainer._train_step

        def stop_during_step_k(batch_size):
            if trainer.step + 1 == steps:  # step k is about to run
                trainer.request_stop()  # what Ctrl-C does
            real_step(batch_size)

        trainer._train_step = stop_during_step_k

    return arm


@pytest.fixture(scope="session")
def write_play():
    """``write_play(path, lines=250, seed=0, words=7)``: a tiny play, speaker lines and verse."""
    import random

    words = "love night day sweet fair death heaven light moon stars thou art my dear".split()

    def write(path, *, lines: int = 250, seed: int = 0, per_line: int = 7):
        rng = random.Random(seed)
        text = "\n".join(f"{rng.choice(['ROMEO', 'JULIET'])}:\n" +
                         " ".join(rng.choices(words, k=per_line)) + "," for _ in range(lines))
        path.write_text(text, encoding="utf-8")
        return path

    return write

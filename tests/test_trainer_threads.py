"""ThreadGuard: train with whichever thread count is faster on a shared machine."""

import pytest
import torch

from g2c.training import threads as threads_module
from g2c.training.threads import PROBE, RECHECK, WINDOW, ThreadGuard


@pytest.fixture
def recorded_counts(monkeypatch):
    counts = []
    monkeypatch.setattr(threads_module.torch, "set_num_threads", counts.append)
    return counts


def run(guard, seconds_for, steps):
    """Feed ``steps`` step times, each given by the thread count in use."""
    used = []
    for _ in range(steps):
        used.append(guard.current)
        guard.record(seconds_for[guard.current])
    return used


def test_idle_machine_keeps_all_threads_after_one_short_probe(recorded_counts):
    guard = ThreadGuard(2)
    used = run(guard, {2: 0.010, 1: 0.016}, 1 + WINDOW * 30)
    assert used.count(1) <= 3 * PROBE  # one probe early, one per RECHECK windows
    assert guard.current == 2 and recorded_counts[-1] == 2


def test_contended_machine_moves_to_one_thread_and_comes_back(recorded_counts):
    guard = ThreadGuard(2)
    used = run(guard, {2: 1.5, 1: 0.15}, 2 + PROBE)  # a core is busy elsewhere
    assert used[:2] == [2, 2] and guard.current == 1  # a 1.5 s step ends a window at once
    later = run(guard, {2: 1.5, 1: 0.15}, 4 * (RECHECK + 1))
    # Probes of two threads end at the first slow step: one per RECHECK windows.
    assert 1 <= later.count(2) <= 2
    assert guard.recheck[2] == 2 * RECHECK  # each lost probe doubles the wait before the next
    run(guard, {2: 0.010, 1: 0.016}, WINDOW * (2 * RECHECK + 3))  # the other program finished
    assert guard.current == 2


def test_restore_puts_the_thread_count_back(recorded_counts):
    guard = ThreadGuard(2)
    run(guard, {2: 1.5, 1: 0.15}, 2 + PROBE)
    guard.restore()
    assert recorded_counts[-1] == 2


def test_only_time_budgeted_cpu_runs_adapt():
    from g2c.training import Trainer, TrainingConfig
    from g2c.transformer import TransformerLM

    ids = torch.randint(0, 16, (3000,))
    model = TransformerLM(16, 16, 1, 2, 8)
    timed = TrainingConfig(batch_size=2, context_length=8, max_steps=None, max_time=1.0,
                           device="cpu")
    stepped = TrainingConfig(batch_size=2, context_length=8, max_steps=5, device="cpu")
    has_guard = Trainer(model, ids[:2500], ids[2500:], timed, quiet=True).thread_guard
    assert (has_guard is not None) == (torch.get_num_threads() > 1)
    assert Trainer(model, ids[:2500], ids[2500:], stepped, quiet=True).thread_guard is None

"""CPU speed settings of a run: ThreadGuard (thread count under contention) and denormal flushing."""

import pytest
import torch

from g2c.training import threads as threads_module
from g2c.training.threads import PROBE, RETURN, WINDOW, ThreadGuard


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
    later = run(guard, {2: 1.5, 1: 0.15}, 60)
    # Each probe of two threads ends at its first slow step, and doubles the wait
    # before the next: a few single slow steps, fewer and fewer.
    lost_probes = later.count(2)
    assert 2 <= lost_probes <= 5
    assert guard.recheck[2] == RETURN * 2**lost_probes
    run(guard, {2: 0.010, 1: 0.016}, WINDOW * (guard.recheck[2] + 3))  # the other program finished
    assert guard.current == 2


def test_a_probe_must_win_clearly_to_take_over(recorded_counts):
    guard = ThreadGuard(2)
    used = run(guard, {2: 0.010, 1: 0.0096}, 1 + WINDOW * 30)  # one thread only 4% faster: noise
    assert guard.current == 2 and used.count(1) <= 3 * PROBE


def test_a_wrong_move_to_one_thread_is_undone_after_one_window(recorded_counts):
    guard = ThreadGuard(2)
    guard.record(0.010)  # warm-up step
    run(guard, {2: 0.030, 1: 0.016}, WINDOW)  # a slow spell on two threads ...
    used = run(guard, {2: 0.030, 1: 0.016}, PROBE)  # ... so the early probe of one thread wins
    assert guard.current == 1 and used == [1] * PROBE
    # The spell is over: two threads are measured again after a single window.
    used = run(guard, {2: 0.010, 1: 0.016}, (RETURN + 1) * WINDOW + PROBE + 1)
    assert guard.current == 2 and used[-1] == 2


def test_restore_puts_the_thread_count_back(recorded_counts):
    guard = ThreadGuard(2)
    run(guard, {2: 1.5, 1: 0.15}, 2 + PROBE)
    guard.restore()
    assert recorded_counts[-1] == 2


def guard_of(tuning, **limits):
    """The ThreadGuard ``tuning`` uses while running with these limits (None: no guard)."""
    with tuning.running(**limits):
        return tuning.thread_guard


def test_only_time_budgeted_cpu_runs_with_tuning_on_adapt():
    from g2c.training.cpu_tuning import CpuTuning

    tuning = CpuTuning(True, torch.device("cpu"))
    has_guard = guard_of(tuning, max_time=1.0, threads=None) is not None
    assert has_guard == (torch.get_num_threads() > 1)
    assert guard_of(tuning, max_time=None, threads=None) is None  # step-limited
    assert guard_of(tuning, max_time=1.0, threads=2) is None  # the user chose a count
    # A compiled graph is specialised to the thread count: switching would recompile.
    assert guard_of(tuning, max_time=1.0, threads=None, compiled=True) is None
    off = CpuTuning(False, torch.device("cpu"))
    assert guard_of(off, max_time=1.0, threads=None) is None
    assert not off.native_bf16 and not CpuTuning(True, torch.device("meta")).active


def test_cpu_tuning_flushes_denormals_inside_and_restores_after():
    from g2c.training.cpu_tuning import CpuTuning

    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a float32 subnormal
    assert float(tiny * 1.0) != 0.0
    with CpuTuning(True, torch.device("cpu")).running(max_time=None, threads=None):
        assert float(tiny * 1.0) == 0.0
    assert float(tiny * 1.0) != 0.0
    with CpuTuning(False, torch.device("cpu")).running(max_time=None, threads=None):
        assert float(tiny * 1.0) != 0.0


def test_a_cpu_run_leaves_denormals_as_it_found_them():
    from g2c.training import Trainer, TrainingConfig
    from g2c.transformer import TransformerLM

    ids = torch.randint(0, 16, (3000,))
    config = TrainingConfig(batch_size=2, context_length=8, max_steps=3, device="cpu")
    Trainer(TransformerLM(16, 16, 1, 2, 8), ids[:2500], ids[2500:], config, quiet=True).fit()
    assert float(torch.tensor([1e-40]) * 1.0) != 0.0

"""The distributed layer in one process: rank streams, launcher, bad input.

Real multi-process behaviour (parity, failures) is in test_distributed_ranks.py.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from g2c.app import launch
from g2c.pretraining import get_lm_batch
from g2c.training import distributed
from g2c.training.distributed import (
    DistributedContext,
    init_distributed,
    launched_by_torchrun,
    rank_generator,
    rank_seed,
)
from g2c.training.parallel import check_fsdp_options, gradient_sync, wrap_model
from g2c.transformer import TransformerLM

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@pytest.fixture
def no_torchrun(monkeypatch):
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def tiny_model() -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(20, 16, 1, 2, 8)


# ------------------------------------------------------------ rank streams


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 2**32), st.integers(0, 63), st.integers(0, 63))
def test_distinct_seed_rank_pairs_get_distinct_seeds(seed_a, seed_b, rank_a, rank_b):
    same_pair = (seed_a, rank_a) == (seed_b, rank_b)
    assert (rank_seed(seed_a, rank_a) == rank_seed(seed_b, rank_b)) == same_pair


def test_seed_plus_rank_collisions_do_not_happen():
    # The naive seed + rank would give run 1 / rank 0 the stream of run 0 / rank 1.
    assert rank_seed(1, 0) != rank_seed(0, 1)


def test_rank_generators_are_reproducible_and_draw_different_windows():
    stream = torch.arange(10_000)
    draws = {
        rank: get_lm_batch(stream, 8, 16, generator=rank_generator(3, rank))[0] for rank in range(4)
    }
    again = get_lm_batch(stream, 8, 16, generator=rank_generator(3, 2))[0]
    assert torch.equal(draws[2], again)
    starts = [set(x[:, 0].tolist()) for x in draws.values()]
    assert all(a != b for i, a in enumerate(starts) for b in starts[i + 1 :])


@pytest.mark.parametrize("seed, rank", [(-1, 0), (0, -2), (1.5, 0), (True, 0)])
def test_bad_seed_or_rank_is_refused(seed, rank):
    with pytest.raises(ValueError, match="non-negative int"):
        rank_seed(seed, rank)


def test_validation_shares_are_equal_or_refused():
    context = DistributedContext(rank=1, world_size=3)
    assert list(context.share_of(6)) == [1, 4]
    with pytest.raises(ValueError, match=r"5 items.*world size 3.*e\.g\. 3 or 6"):
        context.share_of(5)


# ------------------------------------------------------------ environment


def test_no_torchrun_variables_means_one_process(no_torchrun):
    assert not launched_by_torchrun()
    context = init_distributed(device="cpu")
    assert (context.rank, context.world_size, context.is_main) == (0, 1, True)
    assert list(context.share_of(3)) == [0, 1, 2]
    assert context.agree_after_step(diverged=False, stop_requested=True, elapsed=2.0) == (
        False, True, 2.0)


def test_partial_torchrun_environment_is_refused(no_torchrun):
    no_torchrun.setenv("RANK", "0")
    with pytest.raises(ValueError, match=r"not WORLD_SIZE, LOCAL_RANK"):
        launched_by_torchrun()


@pytest.mark.parametrize("rank, world", [("2", "2"), ("x", "2"), ("0", "0")])
def test_inconsistent_torchrun_variables_are_refused(no_torchrun, rank, world):
    for name, value in (("RANK", rank), ("WORLD_SIZE", world), ("LOCAL_RANK", "0")):
        no_torchrun.setenv(name, value)
    with pytest.raises(ValueError, match="torchrun variables"):
        init_distributed(device="cpu")


def test_unknown_device_is_refused(no_torchrun):
    with pytest.raises(ValueError, match="device must be one of"):
        init_distributed(device="tpu")


def test_a_torchrun_worker_needs_a_device_with_a_collective_backend(monkeypatch):
    monkeypatch.setattr(distributed, "select_device", lambda name: torch.device("mps"))
    assert distributed.rank_device("mps") == torch.device("mps")  # one process: fine
    with pytest.raises(ValueError, match=r"'cpu' \(gloo\) or 'cuda' \(NCCL\); got 'mps'"):
        distributed.rank_device("mps", local_rank=0)


# ------------------------------------------------------------ wrapping


def test_one_process_leaves_the_model_unwrapped_and_sync_is_a_no_op():
    model = tiny_model()
    assert wrap_model(model, DistributedContext()) is model
    with gradient_sync(model, enabled=False):
        model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    assert model.output_bias.grad is not None


def test_fsdp_needs_two_processes():
    with pytest.raises(ValueError, match=r"--fsdp.*world size is 1.*--nproc 2"):
        wrap_model(tiny_model(), DistributedContext(), fsdp=True)


def test_wrapping_takes_a_resolved_precision():
    with pytest.raises(ValueError, match=r"precision must be a resolved precision.*got 'auto'"):
        wrap_model(tiny_model(), DistributedContext(), precision="auto")


def test_fsdp_with_compile_is_refused():
    check_fsdp_options(2)
    with pytest.raises(ValueError, match=r"--fsdp with --compile is not supported"):
        check_fsdp_options(2, compile=True)


def test_fsdp_needs_a_model_made_of_blocks():
    with pytest.raises(TypeError, match=r"\.blocks ModuleList.*Linear"):
        wrap_model(torch.nn.Linear(2, 2), DistributedContext(world_size=2), fsdp=True)


# ------------------------------------------------------------ launcher


def test_nproc_beyond_the_machine_is_refused_with_the_count(monkeypatch):
    monkeypatch.setattr(launch, "available_workers", lambda device=None: (2, "CPU cores"))
    assert launch.check_nproc(2) == 2
    with pytest.raises(ValueError, match=r"--nproc 3 .* has 2 CPU cores.*--nproc 2 or fewer"):
        launch.check_nproc(3)
    with pytest.raises(ValueError, match="nproc"):
        launch.check_nproc(0)


def test_one_process_needs_no_launch(no_torchrun):
    assert launch.relaunch_under_torchrun(None, ["pretrain"]) is None
    assert launch.relaunch_under_torchrun(1, ["pretrain", "--nproc", "1"]) is None


def test_inside_torchrun_nproc_must_match_the_launch(no_torchrun):
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"),
                        ("LOCAL_WORLD_SIZE", "2")):
        no_torchrun.setenv(name, value)
    assert launch.relaunch_under_torchrun(2, ["pretrain"]) is None  # the relaunched worker
    with pytest.raises(ValueError, match=r"--nproc 4 .* started 2 processes"):
        launch.relaunch_under_torchrun(4, ["pretrain"])


def test_launch_runs_the_command_on_n_processes(no_torchrun, capfd):
    argv = ["check", "--batch-size", "2", "--context-length", "8"]
    code = launch.relaunch_under_torchrun(2, argv)
    output = capfd.readouterr().out
    assert code == 0
    assert output.count("step-0 loss") == 2  # one report per rank

"""Who the ranks of a torchrun job are and what they agree on (``parallel.py`` shares the model).

torchrun sets RANK (0 … W-1), WORLD_SIZE (W) and LOCAL_RANK (the GPU on this
machine). Every rank draws its own B windows from a generator seeded by
(seed, rank); the gradients are averaged, so all ranks apply the update one
process would make from all B·W windows (the mean of equal-sized per-rank mean
losses is the mean over their union). Without torchrun this is rank 0 of 1 and
every collective returns its input: the trainer has a single code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from g2c.training.device import select_device
from g2c.validation import require_non_negative_int, require_positive_int

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
# Long enough for rank 0 to write a checkpoint while the others wait at a
# barrier; short enough that a hung rank ends the run instead of idling it.
DEFAULT_TIMEOUT_SECONDS = 300.0
PREPARE_TIMEOUT_SECONDS = 24 * 3600.0  # rank 0 tokenizing a corpus while the others wait


def launched_by_torchrun(environ=None) -> bool:
    """True when torchrun set RANK, WORLD_SIZE and LOCAL_RANK; raise if only some are set."""
    environ = os.environ if environ is None else environ
    present = [name for name in TORCHRUN_ENV if name in environ]
    if present and len(present) != len(TORCHRUN_ENV):
        missing = [name for name in TORCHRUN_ENV if name not in environ]
        raise ValueError(
            f"found {', '.join(present)} but not {', '.join(missing)} in the environment; "
            f"start distributed runs with torchrun (or g2c pretrain --nproc N), which sets all of "
            f"{', '.join(TORCHRUN_ENV)}"
        )
    return bool(present)


def _read_rank_env(environ) -> tuple[int, int, int]:
    try:
        rank, world_size, local_rank = (int(environ[name]) for name in TORCHRUN_ENV)
    except ValueError:
        values = {name: environ[name] for name in TORCHRUN_ENV}
        raise ValueError(f"torchrun variables must be integers; got {values}") from None
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(
            f"inconsistent torchrun variables: RANK={rank}, WORLD_SIZE={world_size}, "
            f"LOCAL_RANK={local_rank} (need 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0)"
        )
    return rank, world_size, local_rank


def rank_device(device: str | None, local_rank: int | None = None) -> torch.device:
    """``select_device(device)`` ("auto", "cpu", "cuda", ...); a torchrun worker
    (``local_rank`` given) gets GPU ``local_rank``, so N workers use N GPUs."""
    selected = select_device("auto" if device is None else str(device))
    if local_rank is None or selected.type == "cpu":
        return selected
    if selected.type != "cuda":
        raise ValueError(
            f"distributed runs need device 'cpu' (gloo) or 'cuda' (NCCL); got {selected.type!r}"
        )
    if local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK={local_rank} needs GPU {local_rank} but this machine has "
            f"{torch.cuda.device_count()} GPU(s); start at most that many processes per node"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


@dataclass(frozen=True)
class DistributedContext:
    """Who this process is in the run, and the few collectives the trainer needs.

    Every method that talks to other ranks is a *collective*: all ranks must
    call it, in the same order, or the run stops at the timeout.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, draws progress bars and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()

    def mean_across_ranks(self, value: float) -> float:
        """Average of one number over all ranks; every rank gets the same float (collective)."""
        if not self.is_distributed:
            return float(value)
        total = torch.tensor(float(value), dtype=torch.float64, device=self.device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total) / self.world_size

    def agree_after_step(self, *, diverged: bool, stop_requested: bool,
                         elapsed: float) -> tuple[bool, bool, float]:
        """(diverged on any rank, stop requested on any rank, mean elapsed seconds), in one
        collective: every rank stops together and follows one clock (``max_time``, the lr)."""
        if not self.is_distributed:
            return bool(diverged), stop_requested, elapsed
        values = torch.tensor([float(diverged), float(stop_requested), elapsed],
                              dtype=torch.float64, device=self.device)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        any_diverged, any_stop, total_elapsed = values.tolist()
        return any_diverged > 0, any_stop > 0, total_elapsed / self.world_size

    def batch_generator(self, seed: int) -> torch.Generator:
        """The CPU generator for training batches: seeded by ``seed`` alone in one process,
        by :func:`rank_generator` under torchrun, so no two ranks share a random stream."""
        if self.world_size == 1:
            return torch.Generator().manual_seed(seed)
        return rank_generator(seed, self.rank)

    def gather_objects(self, value) -> list:
        """``[value from rank 0, value from rank 1, …]`` on every rank (collective)."""
        if not self.is_distributed:
            return [value]
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def share_of(self, num_items: int) -> range:
        """The indices of ``0 … num_items-1`` this rank handles: rank, rank+W, rank+2W, …

        Shares must be equal: then the mean of per-rank means is the overall mean,
        and under FSDP every rank runs the same number of forwards (collectives).
        """
        num_items = require_positive_int("num_items", num_items)
        if num_items % self.world_size:
            fits = num_items - num_items % self.world_size
            raise ValueError(
                f"{num_items} items cannot be shared equally by world size {self.world_size}; "
                f"use a multiple of {self.world_size} (e.g. {fits} or {fits + self.world_size})"
            )
        return range(self.rank, num_items, self.world_size)

    def barrier(self) -> None:
        """Wait until every rank gets here (e.g. after rank 0 wrote a checkpoint)."""
        if self.is_distributed:
            dist.barrier(device_ids=[self.local_rank] if self.device.type == "cuda" else None)

    def wait_for_rank0(self, seconds: float = PREPARE_TIMEOUT_SECONDS) -> None:
        """A barrier on its own gloo group that waits up to ``seconds``, not the collective
        timeout: rank 0 tokenizing a corpus can take an hour."""
        if self.is_distributed:
            group = dist.new_group(backend="gloo", timeout=timedelta(seconds=seconds))
            dist.barrier(group=group)
            dist.destroy_process_group(group)


def init_distributed(
    *, device: str | None = None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> DistributedContext:
    """Join the torchrun process group (NCCL on CUDA, gloo on CPUs) and describe this rank.

    ``timeout_seconds`` bounds every collective, so a hung rank ends the run.
    """
    if not launched_by_torchrun():
        return DistributedContext(device=rank_device(device))
    if not timeout_seconds > 0:
        raise ValueError(f"timeout_seconds must be > 0; got {timeout_seconds}")
    rank, world_size, local_rank = _read_rank_env(os.environ)
    resolved = rank_device(device, local_rank)
    if not dist.is_initialized():
        dist.init_process_group(
            "nccl" if resolved.type == "cuda" else "gloo",
            timeout=timedelta(seconds=timeout_seconds),
        )
    return DistributedContext(rank, world_size, local_rank, resolved)


def destroy_distributed() -> None:
    """Leave the process group (safe to call when none was created)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """A 63-bit seed for ``rank`` of the run started with ``seed``, from numpy's
    ``SeedSequence(seed, spawn_key=(rank,))``: the naive ``seed + rank`` would make run
    seed=1 rank 0 replay run seed=0 rank 1."""
    seed, rank = require_non_negative_int("seed", seed), require_non_negative_int("rank", rank)
    state = np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def rank_generator(seed: int, rank: int) -> torch.Generator:
    """The CPU generator rank ``rank`` of a torchrun job draws its training windows from."""
    return torch.Generator().manual_seed(rank_seed(seed, rank))

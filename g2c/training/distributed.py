"""One training run as N cooperating processes: torchrun, DDP and FSDP2.

``torchrun --nproc_per_node=N -m g2c pretrain ...`` starts N copies of the same
program. Each copy (a *rank*) learns who it is from variables torchrun sets:

    RANK        0 … WORLD_SIZE-1, unique across all machines
    WORLD_SIZE  how many processes take part (W)
    LOCAL_RANK  index on this machine — it picks the GPU

Data parallelism: every rank holds the same model and draws its own B windows
from a generator seeded by (seed, rank), so no two ranks read the same random
stream. After backward the gradients are *averaged* across ranks; every rank
then applies the same update, exactly as if one process had read all B·W
windows, because the mean of per-rank mean losses is the mean over the union:

    rank 0: w0 (B windows) ─┐  mean(grad L(w0), grad L(w1)) = grad L(w0 ∪ w1)
    rank 1: w1 (B windows) ─┘  (equal B per rank, loss = mean over windows)

DDP keeps full parameters, gradients and optimizer state on every rank and
all-reduces the gradients. FSDP2 (``fully_shard``) keeps 1/W of each on every
rank and all-gathers one block's parameters just before that block runs. Under
bf16 it gathers them as bf16 — half the bytes, and the dtype autocast would
cast them to anyway — and reduce-scatters the gradients in fp32, so the sum
over ranks loses nothing; the sharded master weights and AdamW stay fp32.

Without torchrun everything degrades to rank 0 of 1: no process group, no
wrapper, the same calls — so the trainer has a single code path.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from g2c.training.device import select_device
from g2c.training.precision import RESOLVED_PRECISIONS
from g2c.validation import require_positive_int

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
        """Average of one number over all ranks; every rank gets the same float (collective).

        One process: ``value`` itself.
        """
        if not self.is_distributed:
            return float(value)
        total = torch.tensor(float(value), dtype=torch.float64, device=self.device)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return float(total) / self.world_size

    def any_across_ranks(self, flag) -> bool:
        """True on every rank if ``flag`` (a bool or a 0-d tensor) is true on any (collective).

        Stop decisions must be shared: a rank that stops alone (its own clock
        passed max_time, its own loss was NaN, it got Ctrl-C first) would
        leave the others waiting in the next step's all-reduce. One process:
        ``bool(flag)``.
        """
        if not self.is_distributed:
            return bool(flag)
        value = torch.as_tensor(flag, dtype=torch.float32).to(self.device).reshape(())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def agree_after_step(self, *, diverged: torch.Tensor, stop_requested: bool,
                         elapsed: float) -> tuple[bool, bool, float]:
        """What every rank decides after a step's backward, in one collective.

        Returns (diverged on any rank, stop requested on any rank, the ranks'
        mean elapsed seconds): the same three values everywhere, so every rank
        skips or stops together and follows one clock (the time-based learning
        rate and ``max_time`` must not differ between ranks). One process:
        the inputs, with the single host read of ``diverged``.
        """
        if not self.is_distributed:
            return bool(diverged), stop_requested, elapsed
        values = torch.stack([diverged.to(torch.float64).reshape(()),
                              torch.tensor(float(stop_requested), dtype=torch.float64),
                              torch.tensor(elapsed, dtype=torch.float64)]).to(self.device)
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        any_diverged, any_stop, total_elapsed = values.tolist()
        return any_diverged > 0, any_stop > 0, total_elapsed / self.world_size

    def batch_generator(self, seed: int) -> torch.Generator:
        """The CPU generator this rank draws training batches from.

        One process: ``torch.Generator().manual_seed(seed)``; rank r of a
        torchrun job: :func:`rank_generator` ``(seed, r)``, so no two ranks
        share a random stream.
        """
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

        Used to split a fixed list of validation batches. Shares must be equal:
        then the mean of per-rank means is the overall mean, and under FSDP
        every rank runs the same number of forwards (each one is a collective).
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
        """A barrier that waits up to ``seconds``, not the run's collective timeout.

        For work only rank 0 does before training — tokenizing a corpus can take
        an hour where a collective should fail after minutes. A separate gloo
        group (CPU, whatever the device) carries this one barrier.
        """
        if self.is_distributed:
            group = dist.new_group(backend="gloo", timeout=timedelta(seconds=seconds))
            dist.barrier(group=group)
            dist.destroy_process_group(group)


def init_distributed(
    *, device: str | None = None, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> DistributedContext:
    """Join the torchrun process group (if launched by torchrun) and describe this rank.

    The backend follows the device: NCCL for CUDA GPUs, gloo for CPUs. The
    timeout bounds every collective, so if one rank hangs the others raise
    instead of waiting forever (a rank that *crashes* is noticed at once:
    its sockets close and torchrun stops the rest).
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
    """A 63-bit seed for ``rank`` of the run started with ``seed``.

    numpy's ``SeedSequence(seed, spawn_key=(rank,))`` hashes both numbers into
    independent child streams. The naive ``seed + rank`` would make run seed=1
    rank 0 replay run seed=0 rank 1.
    """
    for name, value in (("seed", seed), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative int; got {value!r}")
    state = np.random.SeedSequence(int(seed), spawn_key=(int(rank),)).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def rank_generator(seed: int, rank: int) -> torch.Generator:
    """The CPU generator rank ``rank`` draws its training windows from.

    A single-process run uses rank 0's, so its windows are exactly rank 0's
    share of a multi-process run with the same seed.
    """
    return torch.Generator().manual_seed(rank_seed(seed, rank))


def check_fsdp_options(world_size: int, *, compile: bool = False) -> None:
    """Refuse FSDP setups g2c does not run, saying why (call before building anything)."""
    if world_size < 2:
        raise ValueError(
            f"--fsdp shards the model across processes, but world size is {world_size}; "
            f"launch with --nproc 2 or more (or torchrun), or drop --fsdp"
        )
    if compile:
        raise ValueError(
            "--fsdp with --compile is not supported by g2c (the compiled graph would have to "
            "trace FSDP2's per-block gathers, which g2c does not test); drop one of the two"
        )


def _broadcast_from_rank0(model: nn.Module) -> None:
    """Make every rank start from rank 0's weights (DDP does this itself)."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor, src=0)


def wrap_model(model: nn.Module, context: DistributedContext, *, fsdp: bool = False,
               precision: str = "fp32") -> nn.Module:
    """Move ``model`` to the context's device and wrap it for data parallelism.

    One process: the model itself. DDP: ``DistributedDataParallel(model)``.
    FSDP2: ``fully_shard`` on each block, then on the whole model, in place —
    each block becomes one all-gather group, so at most one block's full
    parameters exist at a time; the root group holds the embeddings, whose
    matrix is also the (tied) unembedding. Build the optimizer *after*
    wrapping: under FSDP2 the parameters become sharded DTensors.

    ``precision`` is the run's resolved precision ("fp32", "bf16" or "fp16",
    from ``g2c.training.precision``); under FSDP2 "bf16" gathers bf16
    parameters and reduces fp32 gradients (``MixedPrecisionPolicy``).
    """
    if precision not in RESOLVED_PRECISIONS:
        raise ValueError(f"precision must be a resolved precision, one of {RESOLVED_PRECISIONS}; "
                         f"got {precision!r} (resolve 'auto' with resolve_precision first)")
    if fsdp:
        check_fsdp_options(context.world_size)
        if not isinstance(getattr(model, "blocks", None), nn.ModuleList):
            raise TypeError(
                f"--fsdp shards a model block by block and needs a .blocks ModuleList "
                f"(as TransformerLM has); got {type(model).__name__}"
            )
    model = model.to(context.device)
    if not context.is_distributed:
        return model
    if not fsdp:
        # Our buffers (rotary tables) are constants every rank computes alike;
        # re-broadcasting them would add a collective to every forward pass.
        device_ids = [context.local_rank] if context.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            model, device_ids=device_ids, broadcast_buffers=False
        )
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    # TransformerLM returns logits as a view; FSDP2 warns because an in-place
    # edit of that view would skip a hook. Our loss never edits logits in place.
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    _broadcast_from_rank0(model)
    mesh = init_device_mesh(context.device.type, (context.world_size,))
    policy = MixedPrecisionPolicy()  # parameters and reductions in the parameters' fp32
    if precision == "bf16":
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for block in model.blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    return fully_shard(model, mesh=mesh, mp_policy=policy)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside a DDP wrapper (FSDP2 shards in place, so no unwrapping)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def gradient_sync(model: nn.Module, *, enabled: bool):
    """Context for one micro-step's forward+backward: average gradients across ranks or not.

    With gradient accumulation only the last micro-step needs the all-reduce;
    the others just add into local ``.grad`` (no communication):

        for i in range(accumulation_steps):
            with gradient_sync(model, enabled=i == accumulation_steps - 1):
                (loss_of(model, batch_i) / accumulation_steps).backward()
    """
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return nullcontext() if enabled else model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # an FSDP2 module
        return _fsdp_gradient_sync(model, enabled)
    return nullcontext()


@contextmanager
def _fsdp_gradient_sync(model, enabled: bool):
    model.set_requires_gradient_sync(enabled)
    try:
        yield
    finally:
        model.set_requires_gradient_sync(True)


def full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Whole (unsharded) model and optimizer state on CPU, for a rank-0 checkpoint.

    A collective under DDP/FSDP: every rank calls it, rank 0 receives the
    tensors (the other ranks get empty dicts). Keys are the plain model's
    names ("blocks.0.attn.qkv.weight", no "module." prefix) and the optimizer
    state is keyed by those names too, so a checkpoint written by 1 process,
    DDP or FSDP loads into any of them.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(model, optimizer, options=options)


def load_full_state_dicts(
    model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict, optimizer_state: dict
) -> None:
    """Load :func:`full_state_dicts` output into a (possibly wrapped) model and its optimizer.

    Every rank passes the full dicts (each reads the checkpoint file); under
    FSDP2 each rank keeps only its shard.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(
        model, optimizer, model_state_dict=model_state, optim_state_dict=optimizer_state,
        options=StateDictOptions(full_state_dict=True),
    )

"""Data parallelism applied to a model: nothing (one process), DDP or FSDP2.

DDP keeps full parameters, gradients and optimizer state on every rank and
all-reduces the gradients. FSDP2 (``fully_shard``) keeps 1/W of each on every
rank and all-gathers one block's parameters just before that block runs; under
bf16 it gathers them as bf16 and reduce-scatters the gradients in fp32, so the
sum over ranks loses nothing.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext

import torch
import torch.distributed as dist
from torch import nn

from g2c.training.distributed import DistributedContext
from g2c.training.precision import RESOLVED_PRECISIONS


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

    FSDP2 shards each block, then the whole model, in place: at most one block's
    full parameters exist at a time. Build the optimizer *after* wrapping (under
    FSDP2 the parameters become sharded DTensors). ``precision`` is the resolved one.
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
    """Context for one micro-step's forward+backward: average gradients across ranks or not
    (with gradient accumulation only the last micro-step needs the all-reduce)."""
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
    """Whole (unsharded) model and optimizer state on CPU, for a rank-0 checkpoint (collective).

    Keyed by the plain model's parameter names, so a checkpoint written by 1
    process, DDP or FSDP loads into any of them.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(model, optimizer, options=options)


def load_full_state_dicts(
    model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict, optimizer_state: dict
) -> None:
    """Load :func:`full_state_dicts` output into a (possibly wrapped) model and its optimizer;
    under FSDP2 each rank keeps only its shard."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(
        model, optimizer, model_state_dict=model_state, optim_state_dict=optimizer_state,
        options=StateDictOptions(full_state_dict=True),
    )

"""The Trainer as one rank of a torchrun job (DDP or FSDP2): what changes, and only that.

``g2c pretrain`` under torchrun builds a :class:`DistributedTrainer` instead of
a :class:`~g2c.training.trainer.Trainer`. The loop is the same; this subclass
swaps in the pieces that must agree across ranks (``g2c.training.distributed``):

    batches      rank_generator(seed, rank): each rank draws its own B windows
                 (or packed rows: every rank builds the same plan, draws differ),
                 so one step trains on B · W windows (tokens_per_step · W)
    gradients    averaged on the last micro-step only (gradient_sync)
    stopping     NaN, Ctrl-C and the wall clock are decided by all ranks together
    validation   the fixed windows are split into equal shares, losses averaged
    progress     bar and log lines on rank 0 only
    checkpoints  full state gathered to rank 0, which writes it with the world
                 size and every rank's random streams; the others wait

With world size 1 none of this is used: ``g2c pretrain`` keeps the plain Trainer.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from g2c.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from g2c.training.config import describe_differences, run_identity
from g2c.training.distributed import (
    DistributedContext,
    check_resume_world_size,
    full_state_dicts,
    load_full_state_dicts,
    rank_generator,
    unwrap_model,
    wrap_model,
)
from g2c.training.evaluation import ValidationSet
from g2c.training.optimizer import build_adamw
from g2c.training.trainer import Trainer


class SilentProgress:
    """The progress reporter of ranks other than 0: they train, rank 0 talks."""

    def update(self, **_):
        pass

    def message(self, text: str) -> None:
        pass

    def evaluation(self, **_):
        pass

    def close(self) -> None:
        pass


def _trim_to_multiple(validation: ValidationSet, world_size: int) -> ValidationSet:
    """Drop the last few fixed windows so every rank gets an equal share (W=2, 17 -> 16)."""
    keep = len(validation.x) - len(validation.x) % world_size
    if keep == 0:
        raise ValueError(f"{len(validation.x)} validation window(s) cannot be shared by world "
                         f"size {world_size}; use a larger validation split or fewer processes")
    return ValidationSet(validation.x[:keep], validation.y[:keep])


class DistributedTrainer(Trainer):
    """A :class:`Trainer` on rank ``context.rank`` of ``context.world_size`` (see module doc)."""

    def __init__(self, model, train_ids, val_ids, config, *, context: DistributedContext,
                 fsdp: bool = False, **kwargs) -> None:
        super().__init__(model, train_ids, val_ids, config, **kwargs)
        self.context, self.fsdp = context, fsdp
        self.model = wrap_model(self.model, context, fsdp=fsdp)
        # Rebuilt after wrapping: under FSDP2 the parameters are now sharded DTensors.
        self.optimizer = build_adamw(self.model, learning_rate=config.learning_rate,
                                     weight_decay=config.weight_decay,
                                     betas=(config.beta1, config.beta2), device=self.device)
        self.forward_model = torch.compile(self.model) if config.compile else self.model
        self.generator = rank_generator(config.seed, context.rank)
        self.tokens_per_step = config.tokens_per_step * context.world_size
        self.validation = _trim_to_multiple(self.validation, context.world_size)
        share = list(context.share_of(len(self.validation.x)))
        self._val_share = ValidationSet(self.validation.x[share], self.validation.y[share])

    def _progress_reporter(self):
        return super()._progress_reporter() if self.context.is_main else SilentProgress()

    def _any_rank(self, flag: bool) -> bool:
        return self.context.any_across_ranks(flag)

    def _stop_reason(self) -> str | None:
        # One clock for all ranks (their mean), so the scheduled learning rate
        # and the max_time decision are identical everywhere.
        if self.config.max_time is not None:
            self.elapsed = self.context.mean_across_ranks(self.elapsed)
        self._stop_requested = self.context.any_across_ranks(self._stop_requested)
        return super()._stop_reason()

    def _evaluate_val(self) -> float:
        # DDP: the plain module (no gradient hooks needed); FSDP2: the sharded
        # model, and every rank runs the same number of forwards (collectives).
        model = self.model if self.fsdp else unwrap_model(self.model)
        local = self._score(model, self._val_share)
        loss = self.context.mean_across_ranks(local)
        self.history["val"].append((self.step, loss))
        return loss

    # ---- checkpoints: gathered to rank 0, restored on every rank ------------------------

    def state_dict(self) -> dict:
        model_state, optimizer_state = full_state_dicts(self.model, self.optimizer)
        state = self._plain_state()
        state.update(model=model_state, optimizer=optimizer_state,
                     rng=self.context.gather_objects(capture_rng_state(self.generator)),
                     world_size=self.context.world_size)
        return state

    def _plain_state(self) -> dict:
        """The Trainer's checkpoint fields that need no gathering."""
        return {
            "precision": self.precision.state_dict(), "step": self.step,
            "elapsed": self.elapsed, "tokens_seen": self.tokens_seen,
            "config": self.config.to_dict(), "metadata": self.metadata,
            "initial_check": self.initial_check, "history": self.history,
            "loss_window": list(self._window), "last_lr": self._last_lr,
        }

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        state = self.state_dict()  # a collective: every rank takes part
        if self.context.is_main:
            save_checkpoint(self.checkpoint_path, state)
        self._last_checkpoint_step = self.step
        self.context.barrier()

    def resume(self, path: str | os.PathLike) -> None:
        """Every rank reads the checkpoint, keeps its shard and its own random streams."""
        state = load_checkpoint(path)
        check_resume_world_size(state.get("world_size", 1), self.context.world_size)
        differences = describe_differences(run_identity(state["config"], state["metadata"]),
                                           run_identity(self.config.to_dict(), self.metadata))
        if differences:
            raise ValueError(f"cannot resume from {path}: it belongs to a different run ("
                             + "; ".join(differences) + ")")
        load_full_state_dicts(self.model, self.optimizer, state["model"], state["optimizer"])
        self.precision.load_state_dict(state["precision"])
        restore_rng_state(state["rng"][self.context.rank], self.generator)
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.tokens_seen = state["tokens_seen"]
        self.initial_check, self.history = state["initial_check"], state["history"]
        self._window, self._last_lr = list(state["loss_window"]), state["last_lr"]
        self._last_checkpoint_step = self.step


def check_checkpoint_world_size(checkpoint_path, world_size: int) -> None:
    """Refuse (naming both sizes) to resume a checkpoint written by another world size;
    checkpoints without the field come from single-process runs."""
    if Path(checkpoint_path).exists():
        check_resume_world_size(load_checkpoint(checkpoint_path).get("world_size", 1), world_size)


def exported_model(trainer: Trainer, build):
    """The trained weights as a plain module on rank 0 (None on the others; a collective).

    DDP: the module inside the wrapper. FSDP2: the shards are gathered into a
    fresh ``build()`` model, so artifacts and sampling never see DTensors.
    """
    if not isinstance(trainer, DistributedTrainer):
        return trainer.model
    if not trainer.fsdp:
        return unwrap_model(trainer.model) if trainer.context.is_main else None
    model_state, _ = full_state_dicts(trainer.model, trainer.optimizer)
    if not trainer.context.is_main:
        return None
    model = build()
    model.load_state_dict(model_state)
    return model


def make_trainer(context: DistributedContext, fsdp: bool, *args, **kwargs) -> Trainer:
    """The plain Trainer for one process; a DistributedTrainer under torchrun."""
    if context.is_distributed:
        return DistributedTrainer(*args, context=context, fsdp=fsdp, **kwargs)
    return Trainer(*args, **kwargs)


def prepare_rank0_first(context: DistributedContext, prepare, *, quiet: bool):
    """Rank 0 prepares (or reuses) the corpus while the others wait, then they reuse it:
    N processes writing one folder at once would race."""
    if context.is_main:
        prepared = prepare(quiet=quiet)
    context.barrier()
    if not context.is_main:
        prepared = prepare(quiet=True)
    return prepared

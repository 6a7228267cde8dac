"""Checkpoints: everything a run needs to continue as if it had never stopped.

One file holds the whole model and optimizer state (keyed by parameter name,
so 1 process, DDP and FSDP2 share the format), where the run is, every random
stream of every rank, the config and what was trained (to refuse resuming a
different run) and the history. It is written atomically (a crash leaves the
previous checkpoint) and read with ``torch.load(weights_only=True)``, so a
checkpoint from elsewhere cannot run code on your machine.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import torch

from g2c.atomic_files import atomic_write_bytes
from g2c.training.config import describe_differences, run_identity

CHECKPOINT_FORMAT = "g2c-checkpoint"
CHECKPOINT_VERSION = 2  # 2: model/optimizer state keyed by parameter name, one rng per rank


def capture_rng_state(batch_generator: torch.Generator) -> dict:
    """Snapshot of every random stream a training step can touch."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": list(_to_lists(random.getstate())),
        "batch_generator": batch_generator.get_state(),
    }


def restore_rng_state(state: dict, batch_generator: torch.Generator) -> None:
    """Put every random stream back where :func:`capture_rng_state` found it."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state({
        "bit_generator": "MT19937",
        "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
        "has_gauss": numpy_state["has_gauss"],
        "gauss": numpy_state["gauss"],
    })
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    batch_generator.set_state(state["batch_generator"])


def _to_lists(value):
    """Python's random state nests tuples; store them as lists (plain JSON-like data)."""
    return [_to_lists(item) for item in value] if isinstance(value, tuple) else value


def save_checkpoint(path: str | os.PathLike, state: dict, *, previous_step: int | None = None
                    ) -> Path:
    """Write ``state`` (plus the format tag) to ``path`` atomically; on failure the error
    says that the checkpoint of ``previous_step`` is intact."""
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, buffer)
    try:
        return atomic_write_bytes(path, buffer.getvalue())
    except OSError as error:
        kept = ("no checkpoint had been written yet" if previous_step is None else
                f"the last good checkpoint (step {previous_step}) is kept there")
        raise OSError(error.errno, f"could not write the checkpoint {path} at step "
                                   f"{state.get('step')} ({error.strerror or error}); {kept}"
                      ) from None


def check_resumable(state: dict, path, *, world_size: int, identity: dict) -> None:
    """Refuse a checkpoint of another run: another world size (each rank continues its own
    saved window stream) or another config/model/corpus (``run_identity``)."""
    if state["world_size"] != world_size:
        raise ValueError(
            f"{path} was written by a run with world size {state['world_size']} but this run "
            f"has world size {world_size}; resume with --nproc {state['world_size']} (each "
            f"rank continues its own saved window stream)")
    differences = describe_differences(run_identity(state["config"], state["metadata"]),
                                       identity)
    if differences:
        raise ValueError(f"cannot resume from {path}: it belongs to a different run ("
                         + "; ".join(differences) + ")")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on the CPU), refusing
    anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle/zip errors come in many types
        raise ValueError(
            f"{path} is not a readable g2c checkpoint (it may be truncated, or not a "
            f"weights-only file): {type(error).__name__}: {error}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a g2c checkpoint (no '{CHECKPOINT_FORMAT}' format tag)")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} is checkpoint version {state.get('version')}; this g2c reads version "
            f"{CHECKPOINT_VERSION}"
        )
    return state

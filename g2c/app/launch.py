"""``g2c pretrain --nproc N``: start the same command under torchrun (``--standalone``: one
machine; for several call torchrun yourself, docs/scaling.md).

The command line is passed on without ``--nproc`` (torchrun would take it for
its ``--nproc-per-node``); a worker knows it is one from torchrun's variables.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from g2c.training.distributed import launched_by_torchrun
from g2c.validation import require_positive_int, usable_cores


def available_workers(device: str | None = None) -> tuple[int, str]:
    """How many processes this machine can give a device each: (count, "GPU(s)" or "CPU cores")."""
    use_cuda = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    if use_cuda:
        return torch.cuda.device_count(), "GPU(s)"
    return usable_cores(), "CPU cores"


def check_nproc(nproc: int, device: str | None = None) -> int:
    """Return ``nproc`` if this machine has a core (CPU) or GPU for each process."""
    nproc = require_positive_int("nproc", nproc)
    available, kind = available_workers(device)
    if nproc > available:
        raise ValueError(
            f"--nproc {nproc} asks for {nproc} processes but this machine has {available} "
            f"{kind}; each process needs its own, so use --nproc {available} or fewer "
            f"(for more, add machines: see 'Scaling up' in docs/scaling.md)"
        )
    return nproc


def torchrun_command(nproc: int, argv: list[str], *, module: str = "g2c") -> list[str]:
    """torchrun (run by this interpreter, so the workers share its venv) running
    ``python -m module *argv`` on ``nproc`` processes."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={nproc}", "-m", module, *argv,
    ]


def relaunch_under_torchrun(
    nproc: int | None, argv: list[str], *, device: str | None = None
) -> int | None:
    """Run ``argv`` on ``nproc`` processes and return torchrun's exit code, or None when this
    process should simply train (no ``nproc`` or 1, or already a torchrun worker)."""
    if launched_by_torchrun():
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
        if nproc is not None and nproc != local_world:
            raise ValueError(
                f"--nproc {nproc} was given inside a torchrun launch that started "
                f"{local_world} processes on this machine; drop --nproc when you call torchrun"
            )
        return None
    if nproc is None or check_nproc(nproc, device) == 1:
        return None
    return subprocess.run(torchrun_command(nproc, without_nproc(argv)), check=False).returncode


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` minus ``--nproc N`` / ``--nproc=N``: ["x", "--nproc", "2", "-q"] -> ["x", "-q"]."""
    kept, skip = [], False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = index + 1 < len(argv)
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept

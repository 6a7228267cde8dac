"""A run's output directory: checked before any work, never left half-written, never lost.

A reader of ``out`` sees the old artifact or the new one, never a mix: the
artifact files are written into a temporary sibling folder, the training
state (checkpoint, metrics) is moved in with them, and the two folders trade
places by renames. Leftovers of a killed run are removed by the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from g2c.app.artifact import CHECKPOINT_NAME, existing_run
from g2c.app.metrics import METRICS_NAME, TENSORBOARD_DIR
from g2c.atomic_files import remove_stale_temporary_files, temporary_directory
from g2c.training.config import describe_differences

TRAINING_STATE = (CHECKPOINT_NAME, METRICS_NAME, TENSORBOARD_DIR)  # move with the artifact


def checkpoint_bytes(num_parameters: int) -> int:
    """A generous estimate of one checkpoint plus the artifact: fp32 weights, AdamW's two
    moments, the artifact's weights, and 1 MiB of history and metadata per file."""
    return 4 * num_parameters * 4 + 2 * 2**20


def check_writable(out: Path, needed_bytes: int) -> None:
    """Create ``out`` if needed and make sure a file can be written there, with room."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise ValueError(f"cannot write the run's output to {out}: {error.strerror or error}; "
                         f"choose another --out") from None
    free = shutil.disk_usage(out).free
    if free < needed_bytes:
        raise ValueError(f"{out} has {free / 2**20:,.1f} MiB free but a checkpoint and the "
                         f"artifact need about {needed_bytes / 2**20:,.1f} MiB; free some "
                         f"space or choose another --out")


def clean_leftovers(out: Path) -> None:
    remove_stale_temporary_files(out.parent)
    remove_stale_temporary_files(out)


def plan_output(out: Path, identity: dict, *, resume, overwrite: bool, needed_bytes: int) -> str:
    """"train" or "up_to_date" (this very run, finished) for ``out``; raise if it holds another
    run or cannot be written. ``--overwrite`` never reads what is there."""
    clean_leftovers(out)
    check_writable(out, needed_bytes)
    if overwrite and not resume:
        (out / CHECKPOINT_NAME).unlink(missing_ok=True)  # never resume a replaced run
        return "train"
    try:
        existing = existing_run(out)
    except (ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"{out} holds a run g2c cannot read ({error}); pass --overwrite to "
                         f"replace it, or choose another --out") from None
    if existing is None or resume:
        return "train"
    differences = describe_differences(existing["run"] or {}, identity)
    if differences:
        raise FileExistsError(
            f"{out} already holds a different run ({'; '.join(differences[:6])}); pass "
            f"--overwrite to replace it, or choose another --out")
    if not existing["finished"]:
        raise FileExistsError(
            f"{out} holds an unfinished run (checkpoint at step {existing['step']}); continue it "
            f"with --resume, start over with --overwrite, or choose another --out")
    return "up_to_date"


def publish_artifact(out: Path, write) -> None:
    """Call ``write(folder)`` on a fresh sibling folder, add the training state, swap it in;
    on any failure ``out`` is left as it was."""
    staging = temporary_directory(out.parent, out.name)
    retired = temporary_directory(out.parent, f"old-{out.name}")
    moved = []
    try:
        write(staging)
        for name in TRAINING_STATE:
            if (out / name).exists():
                os.replace(out / name, staging / name)
                moved.append(name)
        os.replace(out, retired)  # onto the empty folder: a rename
        os.replace(staging, out)
    except BaseException:
        if not out.exists():
            os.replace(retired, out)
        for name in moved:
            os.replace(staging / name, out / name)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)

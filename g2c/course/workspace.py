"""The learner's working copy of a module notebook (``notebooks/work/``), and the archive of
old ones (``notebooks/archive/<timestamp>/``): starting again never deletes anything."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from g2c.atomic_files import atomic_write_bytes
from g2c.course.modules import CourseModule

WORK_DIR = Path("notebooks/work")
ARCHIVE_DIR = Path("notebooks/archive")


def working_copy_path(module: CourseModule, root: Path) -> Path:
    return root / WORK_DIR / module.notebook_name


def archive_working_copy(
    module: CourseModule, root: Path, *, now: datetime | None = None
) -> Path | None:
    """Move the working copy to ``notebooks/archive/<timestamp>/``; None if there is none."""
    work = working_copy_path(module, root)
    if not work.exists():
        return None
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder, suffix = root / ARCHIVE_DIR / stamp, 1
    while (folder / work.name).exists():  # two restarts within one second
        folder, suffix = root / ARCHIVE_DIR / f"{stamp}-{suffix}", suffix + 1
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / work.name
    os.replace(work, destination)
    return destination


def ensure_working_copy(module: CourseModule, root: Path) -> tuple[Path, bool]:
    """The working copy, first copied from the clean notebook if missing: ``(path, created)``."""
    work = working_copy_path(module, root)
    if work.exists():
        return work, False
    clean = root / module.notebook
    if not clean.is_file():
        raise FileNotFoundError(f"the clean notebook {clean} is missing; restore it with git")
    return atomic_write_bytes(work, clean.read_bytes()), True

"""The learner's working copy of a module notebook, and the archive of old ones.

    notebooks/clean/09b-pretraining.ipynb              the clean notebook (in git)
    notebooks/work/09b-pretraining.ipynb               the learner's copy (gitignored)
    notebooks/archive/20250101-120000/09b-...ipynb     earlier copies (gitignored)

Starting again never deletes anything: the current copy is *moved* into a
timestamped archive folder first. Both the first copy and the move are
renames within one folder tree, so an interrupted run leaves either the old
file or the new one, never half of either.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

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
    work.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{work.name}.", suffix=".tmp", dir=work.parent)
    os.close(handle)
    try:
        shutil.copyfile(clean, scratch)
        os.chmod(scratch, 0o644)  # mkstemp makes it private; this is an ordinary file
        os.replace(scratch, work)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return work, True

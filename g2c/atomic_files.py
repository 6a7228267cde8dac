"""Write user-facing files atomically: a reader sees the old file or the new one, never half.

The bytes go to a temporary file in the *same directory* (so ``os.replace`` is
an atomic rename), are flushed to disk, and only then take the final name.
Temporaries are created with mode 0666 (a folder 0777) & ~umask, as
``open(path, "w")`` would (``mkstemp`` would make them 0600), and named
``.g2c-tmp-<pid>-<random>-<name>``, so :func:`remove_stale_temporary_files`
can tell a dead writer's leftovers from the user's files and a live write.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

TEMPORARY_PREFIX = ".g2c-tmp-"
_TEMPORARY_NAME = re.compile(rf"^{re.escape(TEMPORARY_PREFIX)}(\d+)-")
_NAME_CHARS = 100  # of the final name kept in a temporary's name (file names stop at 255 bytes)


def _temporary_path(directory: Path, name: str) -> Path:
    return directory / f"{TEMPORARY_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{name[:_NAME_CHARS]}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (mode 0666 & ~umask); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        temporary = _temporary_path(path.parent, path.name)
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # 32 random bits collided: draw again
            continue
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def temporary_directory(parent: str | os.PathLike, name: str) -> Path:
    """A new empty temporary folder in ``parent`` to build files in, then move out."""
    parent = Path(parent)
    while True:
        folder = _temporary_path(parent, name)
        try:
            folder.mkdir(0o777)
            return folder
        except FileExistsError:
            continue


def write_new_directory(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Build beside, rename into place: ``write(folder)`` fills a temporary sibling of ``path``
    (missing, or an empty directory) that then becomes ``path``; on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporary_files(path.parent)  # what a killed writer left there
    staging = temporary_directory(path.parent, path.name)
    try:
        write(staging)
        os.replace(staging, path)  # onto an empty directory too
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def remove_stale_temporary_files(directory: str | os.PathLike) -> list[Path]:
    """Remove (best effort) the temporaries that dead processes left in ``directory``; return
    their paths. A write in progress in a live process is left alone."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for entry in directory.iterdir():
        match = _TEMPORARY_NAME.match(entry.name)
        if match is None or _process_is_running(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def _process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    return True

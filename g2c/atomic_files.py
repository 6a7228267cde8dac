"""Write user-facing files atomically: a reader sees the old file or the new one, never half.

    atomic_write_text("out/config.json", text)            the whole new file, or the old one
    staging = temporary_directory("data/out", "prepare")   build files there, then rename them out
    remove_stale_temporary_files("data/out")              what killed writers left: removed

The bytes go to a temporary file in the *same directory* (so the final
``os.replace`` is a rename within one filesystem, which POSIX makes atomic),
are flushed to disk, and only then take the final name.

Two promises beyond atomicity:

* **Ordinary permissions.** The temporary file is created with mode 0666 (a
  folder 0777) and the kernel masks it with the user's umask — exactly what
  ``open(path, "w")`` gives (0644 with umask 022) — so every file g2c writes
  has the same permissions. (``tempfile.mkstemp`` would make it 0600.)
* **No litter.** A crash between creating and renaming leaves a temporary
  behind. Every temporary is named ``.g2c-tmp-<pid>-<random>-<final name>``,
  so :func:`remove_stale_temporary_files` can tell ours from the user's files
  and a dead writer's from a live one (its process id no longer runs).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
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
    """A new empty folder in ``parent`` (mode 0777 & ~umask) to build files in, then move out.

    Named like every temporary here, so if the process dies before removing it,
    :func:`remove_stale_temporary_files` in ``parent`` removes it later.
    """
    parent = Path(parent)
    while True:
        folder = _temporary_path(parent, name)
        try:
            folder.mkdir(0o777)
            return folder
        except FileExistsError:
            continue


def remove_stale_temporary_files(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporaries (files or folders) that dead processes left in ``directory``.

    Only names this module makes (``.g2c-tmp-<pid>-…``) are touched, and only
    when process ``<pid>`` is no longer running — a write in progress in
    another process is left alone. Best effort: what cannot be removed (a
    read-only folder) stays. Returns the paths removed.

        remove_stale_temporary_files("artifacts/models/ShakespeareLM-0.8M")
        -> [PosixPath('.../.g2c-tmp-4711-9f2c1a0b-checkpoint.pt')]
    """
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

"""atomic_files: ordinary permissions under the user's umask, and no litter after a kill."""

import os
import stat
import subprocess
import sys

import pytest

from g2c.atomic_files import (
    TEMPORARY_PREFIX,
    atomic_write_text,
    remove_stale_temporary_files,
    temporary_directory,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_and_folders_get_what_open_and_mkdir_would_give(tmp_path, umask):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "atomic.json", "{}")
        (tmp_path / "plain.json").write_text("{}")
        staging = temporary_directory(tmp_path, "prepare")
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(previous)
    assert mode(tmp_path / "atomic.json") == mode(tmp_path / "plain.json") == 0o666 & ~umask
    assert mode(staging) == mode(tmp_path / "plain") == 0o777 & ~umask
    assert staging.name.startswith(f"{TEMPORARY_PREFIX}{os.getpid()}-")


def test_a_replaced_file_is_whole_and_leaves_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")
    atomic_write_text(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_only_the_temporaries_of_dead_writers_are_removed(tmp_path):
    # A real writer, killed (SIGKILL) between writing its temporary file and renaming it.
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sys; from g2c import atomic_files as a; "
        f"folder = a.temporary_directory({str(tmp_path)!r}, 'prepare'); "
        "(folder / 'train.bin').write_bytes(b'12'); "
        "os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL); "
        f"a.atomic_write_text({str(tmp_path / 'checkpoint.pt')!r}, 'weights')")],
        capture_output=True, text=True, check=False, timeout=60)
    assert killed.returncode == -9, killed.stderr
    dead = sorted(p.name for p in tmp_path.iterdir())
    assert len(dead) == 2 and all(name.startswith(TEMPORARY_PREFIX) for name in dead)
    assert [name for name in dead if name.endswith("-checkpoint.pt")]
    live = temporary_directory(tmp_path, "prepare")  # this process is running: keep it
    (tmp_path / ".tmp-notes.txt").write_text("the user's own file")
    (tmp_path / "checkpoint.pt").write_text("a finished file")

    removed = remove_stale_temporary_files(tmp_path)

    assert sorted(path.name for path in removed) == dead
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, ".tmp-notes.txt", "checkpoint.pt"])
    assert remove_stale_temporary_files(tmp_path / "missing") == []

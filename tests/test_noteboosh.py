"""./noteboosh.sh: the working copy, its archive, validation, and launching JupyterLab."""

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from g2c.course import get_module, noteboosh
from g2c.course.module_tests import ModuleTestSummary
from g2c.course.modules import PROJECT_ROOT
from g2c.course.notebooks import read_notebook
from g2c.course.workspace import archive_working_copy, working_copy_path

MODULE = get_module("09b")
CLEAN = PROJECT_ROOT / MODULE.notebook


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with the clean notebook; module tests stubbed to '10 passed, 5 failed'."""
    (tmp_path / MODULE.notebook).parent.mkdir(parents=True)
    shutil.copyfile(CLEAN, tmp_path / MODULE.notebook)
    summary = ModuleTestSummary(10, 5, 0, 0, "python -m pytest -q tests/test_pretraining_setup.py",
                                "FAILED tests/test_pretraining_setup.py::test_loss_is_a_scalar")
    monkeypatch.setattr(noteboosh, "run_module_tests", lambda module_id, root: summary)
    return tmp_path


def _run(root, *argv):
    return noteboosh.main(list(argv), root=root)


def test_first_use_copies_the_clean_notebook_and_warns_about_failing_tests(project, capsys):
    assert _run(project, "9B", "--no-launch") == 0
    work = working_copy_path(MODULE, project)
    assert work == project / "notebooks/work/09b-pretraining.ipynb"
    assert work.read_bytes() == CLEAN.read_bytes()
    out = capsys.readouterr().out
    assert "WARNING: 09b tests: 10 passed, 5 failed" in out
    assert "FAILED tests/test_pretraining_setup.py::test_loss_is_a_scalar" in out
    assert "Created your working copy notebooks/work/09b-pretraining.ipynb" in out


def test_tests_that_cannot_run_warn_but_do_not_block(project, capsys, monkeypatch):
    def no_pytest(module_id, root):
        raise RuntimeError("No module named pytest")

    monkeypatch.setattr(noteboosh, "run_module_tests", no_pytest)
    assert _run(project, "09b", "--no-launch") == 0
    assert "WARNING: could not run the 09b tests: No module named pytest" in capsys.readouterr().out
    assert working_copy_path(MODULE, project).exists()


def test_an_existing_working_copy_is_kept(project, capsys):
    _run(project, "09b", "--no-launch")
    work = working_copy_path(MODULE, project)
    edited = work.read_text().replace("How to work", "My notes")
    work.write_text(edited)
    assert _run(project, "09b", "--no-launch") == 0
    assert work.read_text() == edited
    assert "Using your working copy" in capsys.readouterr().out


def test_fresh_archives_the_copy_and_starts_clean_without_deleting(project, capsys):
    _run(project, "09b", "--no-launch")
    work = working_copy_path(MODULE, project)
    work.write_text(work.read_text().replace("How to work", "My notes"))
    assert _run(project, "--fresh", "09b", "--no-launch") == 0
    (archived,) = (project / "notebooks/archive").glob("*/09b-pretraining.ipynb")
    assert "My notes" in archived.read_text()
    assert work.read_bytes() == CLEAN.read_bytes()
    assert "Archived your working copy to notebooks/archive/" in capsys.readouterr().out


def test_two_archives_in_the_same_second_do_not_collide(project):
    work = working_copy_path(MODULE, project)
    moment = datetime(2030, 1, 2, 3, 4, 5)
    archived = []
    for text in ("first", "second"):
        work.parent.mkdir(parents=True, exist_ok=True)
        work.write_text(text)
        archived.append(archive_working_copy(MODULE, project, now=moment))
    assert [path.read_text() for path in archived] == ["first", "second"]
    assert archived[0].parent.name == "20300102-030405" != archived[1].parent.name


def test_fresh_without_a_working_copy_just_starts_clean(project, capsys):
    assert _run(project, "09b", "--fresh", "--no-launch") == 0
    assert working_copy_path(MODULE, project).read_bytes() == CLEAN.read_bytes()
    assert "No working copy to archive" in capsys.readouterr().out
    assert not (project / "notebooks/archive").exists()


BAD_CELL = '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}'


@pytest.mark.parametrize("damage", ['{"cells": [', '{"cells": []}', BAD_CELL])
def test_a_broken_working_copy_is_left_alone_with_a_restore_command(project, capsys, damage):
    work = working_copy_path(MODULE, project)
    work.parent.mkdir(parents=True)
    work.write_text(damage)
    assert _run(project, "09b", "--no-launch") == 1
    assert work.read_text() == damage
    err = capsys.readouterr().err
    assert "./noteboosh.sh 09b --fresh" in err and "Nothing was changed" in err
    assert _run(project, "09b", "--fresh", "--no-launch") == 0  # the advice works
    (archived,) = (project / "notebooks/archive").glob("*/*.ipynb")
    assert archived.read_text() == damage
    read_notebook(work)


def test_unknown_module_names_the_known_ones(project, capsys):
    assert _run(project, "12z", "--no-launch") == 2
    assert "Known modules: 09b (Pretraining)" in capsys.readouterr().err
    assert not (project / "notebooks/work").exists()


def test_missing_jupyterlab_prints_the_one_install_command(project, capsys, monkeypatch):
    monkeypatch.setattr(noteboosh.importlib.util, "find_spec", lambda name: None)
    assert _run(project, "09b") == 1
    assert ".venv/bin/pip install -c constraints.txt -e '.[notebook]'" in capsys.readouterr().err


def test_headless_launch_prints_the_url_and_opens_no_browser(project, capsys, monkeypatch):
    launched = {}
    monkeypatch.setattr(noteboosh.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(noteboosh, "has_display", lambda: False)
    monkeypatch.setattr(noteboosh.os, "execve",
                        lambda path, argv, env: launched.update(argv=argv, env=env))
    _run(project, "09b")
    argv, token = launched["argv"], launched["env"]["JUPYTER_TOKEN"]
    assert argv[:4] == [sys.executable, "-m", "jupyterlab", "notebooks/work/09b-pretraining.ipynb"]
    assert "--no-browser" in argv and f"--ServerApp.root_dir={project}" in argv
    port = next(arg.split("=")[1] for arg in argv if arg.startswith("--port="))
    url = f"http://localhost:{port}/lab/tree/notebooks/work/09b-pretraining.ipynb?token={token}"
    assert url in capsys.readouterr().out


def test_the_working_folders_are_gitignored():
    for path in ("notebooks/work/x.ipynb", "notebooks/archive/20300101-000000/x.ipynb"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=PROJECT_ROOT).returncode == 0


def test_the_script_end_to_end_in_a_student_copy(tmp_path):
    """The real script: `make venv` first, the real module tests, then the working copy."""
    copy = tmp_path / "student"
    scaffolded = subprocess.run([sys.executable, "-m", "g2c", "scaffold", "9b", "--out", str(copy)],
                                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert scaffolded.returncode == 0, scaffolded.stderr
    assert "g2c/pretraining/loss.py: 1 solution region blanked" in scaffolded.stdout
    (copy / ".venv").symlink_to(Path(sys.prefix))  # this venv, so nothing is installed
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "make").write_text('#!/bin/sh\necho "make $*" >> "$MAKE_LOG"\n')
    (fake_bin / "make").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
           "MAKE_LOG": str(tmp_path / "make.log")}
    env.pop("PYTHONPATH", None)

    completed = subprocess.run(["./noteboosh.sh", "9b", "--no-launch"], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    make_call = (tmp_path / "make.log").read_text().split()
    assert make_call == ["make", "--no-print-directory", "-s", "venv"]
    assert "WARNING: 09b tests: 10 passed, 5 failed" in completed.stdout
    work = read_notebook(copy / "notebooks/work/09b-pretraining.ipynb")
    assert "answer_7 = None" in "".join(cell.source for cell in work.cells)

    completed = subprocess.run(["./noteboosh.sh", "nope"], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and "Known modules: 09b" in completed.stderr

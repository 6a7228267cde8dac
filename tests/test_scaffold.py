"""`g2c scaffold`: the student version is generated from the one marked source."""

import os
import subprocess
import sys

import pytest

from g2c.course import get_module, run_module_tests
from g2c.course.grading import SKIPPED
from g2c.course.markers import find_solution_regions
from g2c.course.modules import PROJECT_ROOT
from g2c.course.notebooks import answer_cell_indices, read_notebook
from g2c.course.scaffold import project_files, scaffold_project

MODULE = get_module("09b")


def _env_for(root):
    return {**os.environ, "PYTHONPATH": str(root)}


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    """The student copy, and the project's files as they were when it was made."""
    out = tmp_path_factory.mktemp("scaffold") / "student"
    report = scaffold_project("9B", out)
    # Snapshot at once: other work may edit the tree while these tests run.
    originals = {name: (PROJECT_ROOT / name).read_bytes() for name in project_files(PROJECT_ROOT)}
    assert report.out_dir == out
    assert set(report.blanked) == {"g2c/pretraining/loss.py", MODULE.notebook}
    return out, originals


@pytest.fixture
def student_copy(scaffolded):
    return scaffolded[0]


@pytest.fixture
def originals(scaffolded):
    return scaffolded[1]


def test_student_copy_imports_its_own_g2c(student_copy):
    completed = subprocess.run(
        [sys.executable, "-c", "import g2c; print(g2c.__file__)"],
        cwd=student_copy, env=_env_for(student_copy), capture_output=True, text=True,
    )
    assert completed.stdout.strip() == str(student_copy / "g2c" / "__init__.py")


def test_student_copy_shows_10_passed_5_failed(student_copy):
    summary = run_module_tests("09b", student_copy)
    assert (summary.passed, summary.failed, summary.errors) == (10, 5, 0), summary.output
    assert len(summary.failed_tests()) == 5


def test_the_marked_solution_passes_everything():
    summary = run_module_tests("09b", PROJECT_ROOT)
    assert (summary.passed, summary.failed, summary.errors) == (15, 0, 0), summary.output


def test_the_marked_body_becomes_not_implemented_and_the_docstring_stays(student_copy, originals):
    original = originals["g2c/pretraining/loss.py"].decode()
    student = (student_copy / "g2c/pretraining/loss.py").read_text()
    assert "raise NotImplementedError(" in student
    assert "_loss_fn(logits.reshape" in original and "_loss_fn(logits.reshape" not in student
    assert find_solution_regions(student, "student loss.py") == []
    docstring = original.split('"""')[3]  # the function's docstring: the learner's recipe
    assert docstring in student
    assert student.count("\n") == original.count("\n") - 3  # 4 marked lines -> 1 raise


def test_every_other_file_is_copied_unchanged(student_copy, originals):
    out = student_copy
    changed = {"g2c/pretraining/loss.py", MODULE.notebook}
    copied = {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}
    assert copied >= {"Makefile", "pyproject.toml", "constraints.txt", "noteboosh.sh",
                      "tests/test_pretraining_setup.py", "g2c/__init__.py", *changed}
    for name in copied - changed:
        if name in originals:  # else created after the copy was made
            assert (out / name).read_bytes() == originals[name], name
    assert not (out / ".git").exists() and not (out / ".venv").exists()
    assert os.access(out / "noteboosh.sh", os.X_OK)


def test_notebook_answers_are_blank_and_the_rest_is_kept(student_copy):
    original = read_notebook(PROJECT_ROOT / MODULE.notebook)
    student = read_notebook(student_copy / MODULE.notebook)
    assert len(student.cells) == len(original.cells)
    answers = answer_cell_indices(student)
    assert answers == answer_cell_indices(original)
    for index, (before, after) in enumerate(zip(original.cells, student.cells)):
        marked = find_solution_regions(before.source, "") if before.cell_type == "code" else []
        if not marked:
            assert after.source == before.source
            continue
        number = next(n for n, i in answers.items() if i == index)
        assert f"answer_{number} = None" in after.source
        assert after.source.splitlines()[0] == before.source.splitlines()[0]  # the header stays
        assert "SOLUTION" not in after.source
    assert "math.log(50_257)" not in "".join(cell.source for cell in student.cells)


def test_grading_the_untouched_student_notebook_skips_everything(student_copy):
    completed = subprocess.run(
        [sys.executable, "-m", "g2c", "grade", "09b", str(student_copy / MODULE.notebook)],
        cwd=student_copy, env=_env_for(student_copy), capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line[:2].strip().isdigit()]
    assert len(rows) == 7 and all(row.endswith(SKIPPED) for row in rows), completed.stdout
    assert "0/7 passed" in completed.stdout

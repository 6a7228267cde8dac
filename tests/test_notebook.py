"""The 09B notebook: its structure, and a headless run top to bottom that grades 7/7."""

import re

import pytest

from g2c.course import get_module
from g2c.course.grading import GRADE_MIMETYPE, PASSED, GradeReport
from g2c.course.markers import find_solution_regions
from g2c.course.modules import PROJECT_ROOT
from g2c.course.notebook_grading import execute_notebook
from g2c.course.notebooks import answer_cell_indices, read_notebook

MODULE = get_module("09b")
NOTEBOOK = PROJECT_ROOT / MODULE.notebook
QUESTION = re.compile(r"#+\s*Exercise\s+(\d+)\s*—\s*Question:")


@pytest.fixture(scope="module")
def executed():
    """The clean notebook, run once in a fresh kernel; any cell error fails the run."""
    notebook = read_notebook(NOTEBOOK)
    return execute_notebook(notebook, NOTEBOOK.parent, allow_errors=False)


def test_every_exercise_has_a_question_then_an_answer_cell():
    notebook = read_notebook(NOTEBOOK)
    questions = {}
    for index, cell in enumerate(notebook.cells):
        match = QUESTION.match(cell.source) if cell.cell_type == "markdown" else None
        if match:
            questions[int(match[1])] = index
    answers = answer_cell_indices(notebook)
    numbers = [exercise.number for exercise in MODULE.exercises()]
    assert sorted(questions) == sorted(answers) == numbers == list(range(1, 8))
    for number in numbers:
        assert questions[number] < answers[number]
        assert f"answer_{number}" in notebook.cells[answers[number]].source


def test_the_clean_notebook_is_stored_without_outputs():
    for cell in read_notebook(NOTEBOOK).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_solutions_are_marked_only_in_answer_cells():
    notebook = read_notebook(NOTEBOOK)
    answers = set(answer_cell_indices(notebook).values())
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and find_solution_regions(cell.source, f"cell {index}"):
            assert index in answers


def test_the_notebook_teaches_the_module_topics():
    text = "\n".join(cell.source for cell in read_notebook(NOTEBOOK).cells).lower()
    for topic in ("token stream", "contiguous", "shift", "causal mask", "(b·t, v)", "log(v)",
                  "end-of-text", "corpus"):
        assert topic in text, topic


def test_runs_headless_top_to_bottom_and_its_answers_pass(executed):
    last = executed.cells[-1]
    bundles = [o["data"] for o in last.outputs if o.get("output_type") == "execute_result"]
    assert bundles and GRADE_MIMETYPE in bundles[0]
    report = GradeReport.from_json(bundles[0][GRADE_MIMETYPE])
    assert [result.status for result in report.results] == [PASSED] * 7, report.table()


def test_exercise_7_draws_the_training_curve(executed):
    index = answer_cell_indices(executed)[7]
    outputs = executed.cells[index].outputs
    assert any("image/png" in output.get("data", {}) for output in outputs)
    printed = "".join(output.get("text", "") for output in outputs)
    assert "log(V)" in printed


def test_the_test_run_in_exercise_4_sees_every_module_test(executed):
    index = answer_cell_indices(executed)[4]
    printed = "".join(output.get("text", "") for output in executed.cells[index].outputs)
    assert "15 passed" in printed

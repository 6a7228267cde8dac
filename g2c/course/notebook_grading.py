"""``g2c grade``: run a notebook in a fresh kernel, then grade what it computed.

The answers exist only after the cells have run, so a copy of the notebook
runs top to bottom (cells may fail: one broken cell hides no other exercise)
plus one cell calling :func:`g2c.course.grade`, whose report comes back as
JSON in its output. Missing or failing Answer cells are then folded in.
"""

from __future__ import annotations

from pathlib import Path

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_code_cell

from g2c.course.grading import GRADE_MIMETYPE, NEEDS_WORK, ExerciseResult, GradeReport
from g2c.course.modules import get_module
from g2c.course.notebooks import answer_cell_indices, read_notebook


def execute_notebook(notebook, directory: Path, *, allow_errors: bool, timeout: int = 600):
    """Run every cell of ``notebook`` in place, in a fresh ``python3`` kernel of this interpreter
    started in ``directory``."""
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(directory)}},
        # Keep the kernel's own start-up chatter (e.g. its TCP notice) out of our output.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as error:
        raise RuntimeError(f"the notebook kernel did not finish: {error}") from error
    return notebook


def cell_error(cell) -> str | None:
    """``"NameError: name 'x' is not defined"`` if the cell raised, else None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output['ename']}: {output['evalue']}"
    return None


def _report_in(cell) -> GradeReport:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "execute_result" and GRADE_MIMETYPE in output["data"]:
            return GradeReport.from_json(output["data"][GRADE_MIMETYPE])
    raise RuntimeError(
        f"the grading cell produced no report ({cell_error(cell) or 'no output'}); "
        "is g2c installed in the kernel's environment?"
    )


def grade_notebook(module_id: str, path: str | Path, *, timeout: int = 600) -> GradeReport:
    """Execute the notebook at ``path`` and grade every exercise of ``module_id`` (problems with
    single answers are results; RuntimeError when the kernel dies)."""
    module = get_module(module_id)
    path = Path(path).resolve()
    notebook = read_notebook(path)
    answer_cells = answer_cell_indices(notebook)
    grading_cell = f"import g2c.course\ng2c.course.grade({module.id!r}, globals())"
    notebook.cells.append(new_code_cell(grading_cell))
    execute_notebook(notebook, path.parent, allow_errors=True, timeout=timeout)
    report = _report_in(notebook.cells[-1])
    for exercise in module.exercises():
        index = answer_cells.get(exercise.number)
        if index is None:
            feedback = (
                f"the notebook has no Answer cell for exercise {exercise.number} (a code cell "
                f"starting '# Exercise {exercise.number} — Answer:'); copy it back from "
                f"{module.notebook}."
            )
        elif error := cell_error(notebook.cells[index]):
            feedback = f"your Answer cell raised {error}"
        else:
            continue
        report = report.with_result(
            ExerciseResult(exercise.number, exercise.title, NEEDS_WORK, feedback)
        )
    return report

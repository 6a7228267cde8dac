"""``g2c scaffold``: generate the student version of the project from this one.

The copy is every file git knows about with each solution region of the
module blanked: ``raise NotImplementedError`` in ``.py`` files (the docstring
above stays), ``answer_<n> = None`` in a notebook's Answer cell, all outputs
cleared. Every marker is checked before anything is written, and the copy is
built beside ``out_dir`` and renamed into place.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from g2c.atomic_files import write_new_directory
from g2c.course.markers import (
    MarkerError,
    SolutionRegion,
    find_solution_regions,
    replace_solution_regions,
)
from g2c.course.modules import PROJECT_ROOT, CourseModule, get_module
from g2c.course.notebooks import answer_exercise_number, read_notebook


@dataclass
class ScaffoldReport:
    """Where the copy went and how many regions each changed file lost."""

    out_dir: Path
    blanked: dict[str, int] = field(default_factory=dict)


def project_files(root: Path) -> list[str]:
    """Relative paths of the project's files: tracked, or untracked but not ignored."""
    completed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True,
    )
    if completed.returncode != 0:
        raise ValueError(
            f"{root} is not a git checkout (git says: {completed.stderr.decode().strip()}); "
            "scaffold copies the files git knows about, so run it in the reference project"
        )
    names = {name for name in completed.stdout.decode().split("\0") if name}
    return sorted(name for name in names if (root / name).is_file())


def _python_blank(region: SolutionRegion) -> str:
    message = f"{region.module_id} exercise: write this part (the docstrings above say what it does)"
    return f"{region.indent}raise NotImplementedError({message!r})"


def _student_python(text: str, module: CourseModule, where: str) -> tuple[str, int]:
    regions = [r for r in find_solution_regions(text, where) if r.module_id == module.id]
    if not regions:
        return text, 0
    return replace_solution_regions(text, module.id, where, _python_blank), len(regions)


def _student_notebook(notebook, module: CourseModule, where: str) -> int:
    """Blank ``module``'s regions in place; return how many there were."""
    count = 0
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        cell_where = f"{where} (cell {index})"
        regions = [r for r in find_solution_regions(cell.source, cell_where)
                   if r.module_id == module.id]
        if not regions:
            continue
        number = answer_exercise_number(cell)
        if number is None:
            raise MarkerError(
                f"{cell_where}: a notebook's solution regions must sit in Answer cells "
                "(code cells whose first line is '# Exercise N — Answer: ...')"
            )
        answer_name = module.exercise(number).answer_name
        cell.source = replace_solution_regions(
            cell.source, module.id, cell_where,
            lambda region: f"{region.indent}{answer_name} = None  # your answer",
        )
        count += len(regions)
    if count:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
    return count


def _plan(root: Path, files: list[str], module: CourseModule) -> dict[str, object]:
    """The changed content of each file that holds ``module``'s regions (every file is parsed,
    so a malformed marker anywhere stops the run)."""
    changed = {}
    for name in files:
        path = root / name
        if path.suffix == ".py":
            text, count = _student_python(path.read_text(encoding="utf-8"), module, name)
            if count:
                changed[name] = (text, count)
        elif path.suffix == ".ipynb":
            notebook = read_notebook(path)
            count = _student_notebook(notebook, module, name)
            if count:
                changed[name] = (nbformat.writes(notebook) + "\n", count)
    return changed


def scaffold_project(
    module_id: str, out_dir: str | Path, *, source_root: str | Path = PROJECT_ROOT
) -> ScaffoldReport:
    """Write the student copy of the project at ``source_root`` for ``module_id`` to ``out_dir``."""
    module = get_module(module_id)
    root = Path(source_root).resolve()
    out = Path(out_dir).resolve()
    if out.is_relative_to(root):
        raise ValueError(f"--out {out} is inside the project {root}; choose a directory outside it")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"--out {out} already exists and is not an empty directory")
    files = project_files(root)
    changed = _plan(root, files, module)

    def copy(folder: Path) -> None:
        for name in files:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name in changed:
                target.write_text(changed[name][0], encoding="utf-8")
                shutil.copymode(root / name, target)
            else:
                shutil.copy2(root / name, target)

    write_new_directory(out, copy)
    return ScaffoldReport(out, {name: count for name, (_, count) in changed.items()})

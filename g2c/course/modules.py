"""The course modules this project teaches, by id (``09b``; ``9b`` and ``09B`` normalise to it)."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# The checkout this package was imported from: the editable install, or a
# student copy put first on PYTHONPATH. Notebooks and tests live next to it.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

_MODULE_ID = re.compile(r"0*(?P<number>\d{1,2})(?P<letter>[a-z])")


@dataclass(frozen=True)
class CourseModule:
    """One course module: where its notebook and tests are, and its exercises."""

    id: str
    title: str
    notebook: str  # the clean notebook, relative to the project root
    tests: tuple[str, ...]  # pytest files, relative to the project root
    exercises_module: str  # dotted path of the module that defines EXERCISES

    @property
    def notebook_name(self) -> str:
        return PurePosixPath(self.notebook).name

    def exercises(self) -> tuple:
        """The module's exercises in order (imported on demand: they import torch)."""
        return importlib.import_module(self.exercises_module).EXERCISES

    def exercise(self, number: int):
        for exercise in self.exercises():
            if exercise.number == number:
                return exercise
        known = ", ".join(str(e.number) for e in self.exercises())
        raise ValueError(f"module {self.id} has no exercise {number}; it has {known}")


MODULES = {
    module.id: module
    for module in (
        CourseModule(
            id="09b",
            title="Pretraining",
            notebook="notebooks/clean/09b-pretraining.ipynb",
            tests=("tests/test_pretraining_setup.py",),
            exercises_module="g2c.course.pretraining_exercises",
        ),
    )
}


def known_modules() -> str:
    """``"09b (Pretraining)"``: the list an error message shows."""
    return ", ".join(f"{module.id} ({module.title})" for module in MODULES.values())


def normalise_module_id(module_id: str) -> str:
    """``"9B"``, ``"09b"``, ``" 09B "`` -> ``"09b"`` (does not check that it exists)."""
    if not isinstance(module_id, str):
        raise TypeError(f"module id must be a string like '09b'; got {module_id!r}")
    match = _MODULE_ID.fullmatch(module_id.strip().lower())
    if match is None:
        raise ValueError(
            f"module id must look like '09b' (number + letter); got {module_id!r}. "
            f"Known modules: {known_modules()}"
        )
    return f"{int(match['number']):02d}{match['letter']}"


def get_module(module_id: str) -> CourseModule:
    """The module for any spelling of its id; ValueError listing the known ones."""
    key = normalise_module_id(module_id)
    if key not in MODULES:
        raise ValueError(f"unknown module {module_id!r}. Known modules: {known_modules()}")
    return MODULES[key]

"""The course around the code: module registry, offline grading, student copies.

    get_module("9B") -> CourseModule            (ids are normalised: 9b, 09B -> 09b)
    grade("09b", globals()) -> GradeReport      (from a notebook cell)
    run_module_tests("09b") -> ModuleTestSummary
    g2c.course.notebook_grading.grade_notebook("09b", path)   (`g2c grade`)
    g2c.course.scaffold.scaffold_project("09b", out_dir)      (`g2c scaffold`)
    python -m g2c.course.noteboosh 09b                         (`./noteboosh.sh`)
"""

from g2c.course.grading import GradeReport, grade
from g2c.course.module_tests import ModuleTestSummary, run_module_tests
from g2c.course.modules import get_module

__all__ = ["GradeReport", "ModuleTestSummary", "get_module", "grade", "run_module_tests"]

"""The course around the code: module registry, offline grading (``grade("09b", globals())``
from a notebook cell), student copies."""

from g2c.course.grading import GradeReport, grade
from g2c.course.module_tests import ModuleTestSummary, run_module_tests
from g2c.course.modules import get_module

__all__ = ["GradeReport", "ModuleTestSummary", "get_module", "grade", "run_module_tests"]

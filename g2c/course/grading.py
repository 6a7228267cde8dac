"""Grade a module's exercises from the answers in a notebook's namespace.

Every exercise reads one variable, ``answer_<n>``, and is passed, needs work
(the feedback says what is missing), skipped (no answer yet: blank is not
wrong) or hint (a short string asking for one). An answer that breaks its
checker is "needs work" for that exercise alone.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from g2c.course.modules import get_module

PASSED, NEEDS_WORK, SKIPPED, HINT = "passed", "needs work", "skipped", "hint"
GRADE_MIMETYPE = "application/vnd.g2c.grade+json"  # machine-readable copy of a report

_HINT_WORD = re.compile(r"\bhints?\b", re.IGNORECASE)
_MAX_HINT_REQUEST_WORDS = 8  # longer text is an answer that happens to say "hint"


@dataclass(frozen=True)
class Exercise:
    """One exercise; ``check(answer, namespace)`` returns ``(passed, feedback)`` or raises
    NotImplementedError for "not attempted yet"."""

    number: int
    title: str
    check: Callable[[Any, Mapping[str, Any]], tuple[bool, str]]
    hint: str

    @property
    def answer_name(self) -> str:
        return f"answer_{self.number}"


@dataclass(frozen=True)
class ExerciseResult:
    number: int
    title: str
    status: str
    feedback: str


def is_blank(answer: Any) -> bool:
    """None, Ellipsis and whitespace-only strings mean "not answered yet"."""
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip())


def asks_for_hint(answer: Any) -> bool:
    """A short string containing the word "hint" ("hint", "hint please")."""
    return (
        isinstance(answer, str)
        and bool(_HINT_WORD.search(answer))
        and len(answer.split()) <= _MAX_HINT_REQUEST_WORDS
    )


def grade_exercise(exercise: Exercise, namespace: Mapping[str, Any]) -> ExerciseResult:
    """Grade one exercise; never raises for anything the answer does."""

    def result(status: str, feedback: str) -> ExerciseResult:
        return ExerciseResult(exercise.number, exercise.title, status, feedback)

    if exercise.answer_name not in namespace:
        return result(SKIPPED, f"{exercise.answer_name} is not defined yet: run its Answer cell.")
    answer = namespace[exercise.answer_name]
    if asks_for_hint(answer):
        return result(HINT, exercise.hint)
    if is_blank(answer):
        return result(SKIPPED, "no answer yet.")
    try:
        passed, feedback = exercise.check(answer, namespace)
    except NotImplementedError:
        return result(SKIPPED, "the code still raises NotImplementedError: implement it first.")
    except Exception as error:  # any failure here belongs to this exercise, not the grader
        return result(
            NEEDS_WORK,
            f"checking your answer raised {type(error).__name__}: {error}",
        )
    return result(PASSED if passed else NEEDS_WORK, feedback)


@dataclass(frozen=True)
class GradeReport:
    """Results for every exercise of a module, in order."""

    module_id: str
    results: tuple[ExerciseResult, ...]

    def count(self, status: str) -> int:
        return sum(result.status == status for result in self.results)

    def summary(self) -> str:
        return (
            f"total: {self.count(PASSED)}/{len(self.results)} passed · "
            f"{self.count(NEEDS_WORK)} needs work · {self.count(SKIPPED)} skipped · "
            f"{self.count(HINT)} hint"
        )

    def table(self) -> str:
        title_width = max(len(result.title) for result in self.results)
        rows = [f"{'#':>2}  {'exercise':<{title_width}}  status", "-" * (title_width + 18)]
        for result in self.results:
            rows.append(f"{result.number:>2}  {result.title:<{title_width}}  {result.status}")
            rows.extend(
                textwrap.wrap(result.feedback, width=88, initial_indent="      ",
                              subsequent_indent="      ")
            )
        rows.append(self.summary())
        return "\n".join(rows)

    def to_json(self) -> dict:
        return {"module": self.module_id, "results": [asdict(result) for result in self.results]}

    @classmethod
    def from_json(cls, data: Mapping) -> GradeReport:
        return cls(data["module"], tuple(ExerciseResult(**result) for result in data["results"]))

    def with_result(self, replacement: ExerciseResult) -> GradeReport:
        """A copy in which ``replacement`` stands in for the result of its exercise."""
        return GradeReport(
            self.module_id,
            tuple(replacement if r.number == replacement.number else r for r in self.results),
        )

    def __str__(self) -> str:
        return self.table()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        # Jupyter shows the table; `g2c grade` reads the JSON from the same output.
        return {"text/plain": self.table(), GRADE_MIMETYPE: self.to_json()}


def grade(module_id: str, namespace: Mapping[str, Any]) -> GradeReport:
    """Grade every exercise of ``module_id`` from the answers in ``namespace`` (``globals()``)."""
    module = get_module(module_id)
    return GradeReport(
        module.id, tuple(grade_exercise(exercise, namespace) for exercise in module.exercises())
    )

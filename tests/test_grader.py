"""The offline grader: statuses, feedback, hints, isolation, and `g2c grade`."""

import json
import math
import subprocess
import sys

import nbformat
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from g2c.course import GradeReport, get_module, grade
from g2c.course.grading import HINT, NEEDS_WORK, PASSED, SKIPPED, Exercise, grade_exercise
from g2c.course.modules import normalise_module_id
from g2c.course.pretraining_exercises import (
    CAUSAL_MASK_IDEAS,
    GPT2_VOCAB_SIZE,
    TOY_CONTEXT_LENGTH,
    TOY_START,
    TOY_STREAM,
)
from g2c.pretraining import lm_cross_entropy
from g2c.pretraining.initial_check import SUSPECTS_TOO_LOW

VOCAB = 81


def _decreasing_losses(start: float, steps: int = 30) -> list[float]:
    return [start - 1.5 * step / steps for step in range(steps)]


def correct_answers() -> dict:
    s, t = TOY_START, TOY_CONTEXT_LENGTH
    return {
        "vocab_size": VOCAB,
        "answer_1": (list(TOY_STREAM[s : s + t]), list(TOY_STREAM[s + 1 : s + t + 1])),
        "answer_2": "The mask hides the future: each position sees only its prefix, so all "
        "T positions are trained in one pass.",
        "answer_3": lambda x, y: torch.equal(y[:, :-1], x[:, 1:]),
        "answer_4": lm_cross_entropy,
        "answer_5": 12 * 256,
        "answer_6": math.log(GPT2_VOCAB_SIZE),
        "answer_7": _decreasing_losses(math.log(VOCAB)),
    }


def _statuses(report: GradeReport) -> dict[int, str]:
    return {result.number: result.status for result in report.results}


def _result(report: GradeReport, number: int):
    return next(result for result in report.results if result.number == number)


def test_correct_answers_all_pass():
    report = grade("09b", correct_answers())
    assert _statuses(report) == {n: PASSED for n in range(1, 8)}
    assert report.count(PASSED) == 7
    assert "7/7 passed" in report.table()


def test_blank_or_undefined_answers_are_skipped_not_wrong():
    namespace = {"vocab_size": VOCAB, "answer_1": None, "answer_2": "   ", "answer_3": ...}
    report = grade("09b", namespace)
    assert set(_statuses(report).values()) == {SKIPPED}
    assert "not defined" in _result(report, 5).feedback


def test_not_yet_implemented_code_is_skipped():
    def scaffolded(logits, targets):
        raise NotImplementedError

    report = grade("9B", {**correct_answers(), "answer_4": scaffolded})
    assert _result(report, 4).status == SKIPPED
    assert "NotImplementedError" in _result(report, 4).feedback


@pytest.mark.parametrize("request_text", ["hint", "HINT please", "can I have a hint?"])
def test_asking_for_a_hint_gives_the_hint_instead_of_a_grade(request_text):
    report = grade("09b", {**correct_answers(), "answer_6": request_text})
    result = _result(report, 6)
    assert result.status == HINT
    assert result.feedback == get_module("09b").exercise(6).hint
    assert _result(report, 5).status == PASSED


def test_a_long_answer_that_mentions_hint_is_graded():
    prose = correct_answers()["answer_2"] + " My hint to myself: the mask is a lower triangle."
    assert _result(grade("09b", {**correct_answers(), "answer_2": prose}), 2).status == PASSED


def test_wrong_answers_need_work_with_specific_feedback():
    s, t = TOY_START, TOY_CONTEXT_LENGTH
    x = list(TOY_STREAM[s : s + t])
    wrong = {
        **correct_answers(),
        "answer_1": (x, x),
        "answer_3": lambda x, y: True,
        "answer_4": lambda logits, targets: torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
        ),
        "answer_5": 12 * 256 * GPT2_VOCAB_SIZE,
        "answer_6": math.log2(GPT2_VOCAB_SIZE),
        "answer_7": _decreasing_losses(0.3 * math.log(VOCAB)),
    }
    report = grade("09b", wrong)
    assert set(_statuses(report).values()) - {PASSED} == {NEEDS_WORK}
    assert _result(report, 2).status == PASSED
    assert "shifted" in _result(report, 1).feedback
    assert "expected False" in _result(report, 3).feedback
    assert "SUM" in _result(report, 4).feedback
    assert "classes" in _result(report, 5).feedback
    assert "base 2" in _result(report, 6).feedback
    assert "below log(V)" in _result(report, 7).feedback
    assert all(suspect in _result(report, 7).feedback for suspect in SUSPECTS_TOO_LOW)


def test_a_flat_training_curve_needs_work():
    flat = [math.log(VOCAB)] * 30
    result = _result(grade("09b", {**correct_answers(), "answer_7": flat}), 7)
    assert result.status == NEEDS_WORK and "does not go down" in result.feedback


def test_prose_feedback_names_exactly_the_missing_ideas():
    partial = "The causal mask hides the future tokens from every position."
    result = _result(grade("09b", {**correct_answers(), "answer_2": partial}), 2)
    assert result.status == NEEDS_WORK
    assert CAUSAL_MASK_IDEAS[0].description not in result.feedback
    for idea in CAUSAL_MASK_IDEAS[1:]:
        assert idea.description in result.feedback
    assert "1 of 3" in result.feedback


@pytest.mark.parametrize(
    "paraphrase",
    [
        "Attention is masked so a token can only look at earlier tokens and never at later "
        "ones; every prediction is therefore fair, and we get B*T examples from one pass.",
        "Position t attends only to its prefix; future positions are blocked by the mask. "
        "So we compute the loss for all positions at once.",
    ],
)
def test_prose_accepts_different_wordings(paraphrase):
    assert _result(grade("09b", {**correct_answers(), "answer_2": paraphrase}), 2).status == PASSED


def test_an_answer_that_breaks_its_checker_is_isolated():
    def explodes(x, y):
        raise RuntimeError("boom")

    report = grade("09b", {**correct_answers(), "answer_3": explodes, "answer_6": "ten"})
    assert _result(report, 3).status == NEEDS_WORK
    assert "RuntimeError: boom" in _result(report, 3).feedback
    assert _result(report, 6).status == NEEDS_WORK and "ValueError" in _result(report, 6).feedback
    assert report.count(PASSED) == 5


def test_grade_exercise_never_raises_for_a_checker_bug():
    def broken_check(answer, namespace):
        return 1 / 0

    exercise = Exercise(9, "demo", broken_check, "a hint")
    result = grade_exercise(exercise, {"answer_9": 3})
    assert result.status == NEEDS_WORK and "ZeroDivisionError" in result.feedback


def test_report_round_trips_through_json_and_shows_in_jupyter():
    report = grade("09b", correct_answers())
    assert GradeReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    bundle = report._repr_mimebundle_()
    assert bundle["text/plain"] == report.table()


@given(number=st.integers(0, 99), letter=st.sampled_from("abcxyz"), pad=st.booleans(),
       upper=st.booleans())
def test_module_ids_are_normalised(number, letter, pad, upper):
    text = (f"{number:02d}" if pad else str(number)) + (letter.upper() if upper else letter)
    assert normalise_module_id(f" {text} ") == f"{number:02d}{letter}"


def test_unknown_module_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown module '10a'.*09b \(Pretraining\)"):
        get_module("10a")
    with pytest.raises(ValueError, match="09b"):
        get_module("pretraining")


# ------------------------------------------------------------ `g2c grade` on a notebook


def _g2c(*args, cwd):
    return subprocess.run([sys.executable, "-m", "g2c", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_cli_grades_a_notebook_per_exercise(tmp_path):
    """Missing cell, raising cell, blank, hint and right answers in one kernel run."""
    cells = [new_markdown_cell("### Exercise 1 — Question: shift")]
    s, t = TOY_START, TOY_CONTEXT_LENGTH
    x, y = list(TOY_STREAM[s : s + t]), list(TOY_STREAM[s + 1 : s + t + 1])
    sources = {
        1: f"answer_1 = ({x}, {y})",
        2: "answer_2 = 'hint'",
        3: "answer_3 = None  # your answer",
        4: "raise RuntimeError('my cell is broken')",
        5: "answer_5 = 12 * 256",
        6: "answer_6 = undefined_name",
    }  # exercise 7 has no Answer cell at all
    for number, source in sources.items():
        cells.append(new_code_cell(f"# Exercise {number} — Answer:\n{source}"))
    notebook = tmp_path / "mine.ipynb"
    nbformat.write(new_notebook(cells=cells), notebook)

    completed = _g2c("grade", "9b", str(notebook), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    rows = {int(line.split()[0]): line for line in completed.stdout.splitlines()
            if line[:2].strip().isdigit()}
    assert rows[1].endswith(PASSED) and rows[2].endswith(HINT) and rows[3].endswith(SKIPPED)
    assert rows[4].endswith(NEEDS_WORK) and rows[6].endswith(NEEDS_WORK)
    assert rows[5].endswith(PASSED) and rows[7].endswith(NEEDS_WORK)
    assert "RuntimeError: my cell is broken" in completed.stdout
    assert "NameError" in completed.stdout
    assert "no Answer cell for exercise 7" in completed.stdout
    assert "2/7 passed" in completed.stdout


def test_cli_reports_an_unreadable_notebook_as_a_grader_error(tmp_path):
    notebook = tmp_path / "broken.ipynb"
    notebook.write_text('{"cells": [', encoding="utf-8")
    completed = _g2c("grade", "09b", str(notebook), cwd=tmp_path)
    assert completed.returncode != 0
    assert "not valid JSON" in completed.stderr
    completed = _g2c("grade", "42z", str(notebook), cwd=tmp_path)
    assert completed.returncode != 0 and "Known modules: 09b" in completed.stderr

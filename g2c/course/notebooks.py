"""Read exercise notebooks and find their Answer cells.

An Answer cell is a code cell whose first line is ``# Exercise 3 — Answer: ...``:
visible text rather than hidden metadata, so learners see what makes it one.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import nbformat

_ANSWER_HEADER = re.compile(r"#\s*Exercise\s+(?P<number>\d+)\s*[—–-]+\s*Answer:", re.IGNORECASE)


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Load and validate a notebook; ValueError saying what is wrong with it, and where."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
        raise ValueError(f"{path} is JSON but not a notebook (no 'nbformat' version number)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "cell is missing an id": we validate below
            notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several kinds for a malformed notebook
        message = (str(error).strip() or type(error).__name__).splitlines()[0]
        where = "".join(f"[{part!r}]" for part in getattr(error, "absolute_path", ()))
        location = f" at {where}" if where else ""
        raise ValueError(f"{path} has malformed cells: {message}{location}") from None
    return notebook


def answer_exercise_number(cell) -> int | None:
    """The exercise number of an Answer cell, or None for any other cell."""
    if cell.get("cell_type") != "code":
        return None
    first_line = cell.get("source", "").lstrip().split("\n", 1)[0]
    match = _ANSWER_HEADER.match(first_line)
    return int(match["number"]) if match else None


def answer_cell_indices(notebook) -> dict[int, int]:
    """``{exercise number: index of its Answer cell}`` (the last one if repeated)."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        number = answer_exercise_number(cell)
        if number is not None:
            found[number] = index
    return found

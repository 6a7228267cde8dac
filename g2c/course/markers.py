"""Solution markers: how one source holds both the solution and the exercise.

A region runs from ``# BEGIN SOLUTION 09b`` to ``# END SOLUTION 09b``; ``g2c
scaffold`` blanks the regions of the module being taught. A malformed marker
would silently ship a solution to learners, so each is an error naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from g2c.course.modules import get_module

_MARKER = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*(?P<kind>BEGIN|END)[ \t]+SOLUTION\b(?P<rest>.*)$")


class MarkerError(ValueError):
    """A malformed solution marker; the message names where it is."""


@dataclass(frozen=True)
class SolutionRegion:
    """Lines ``begin`` … ``end`` (0-based, both marker lines included)."""

    module_id: str
    begin: int
    end: int
    indent: str


def _marker_module_id(rest: str, where: str, line_number: int, kind: str) -> str:
    words = rest.split()
    if len(words) != 1:
        raise MarkerError(
            f"{where}:{line_number}: '{kind} SOLUTION' must name exactly one course module, "
            f"as in '# {kind} SOLUTION 09b'; got {rest.strip()!r}"
        )
    try:
        return get_module(words[0]).id
    except ValueError as error:
        raise MarkerError(f"{where}:{line_number}: {error}") from None


def find_solution_regions(text: str, where: str) -> list[SolutionRegion]:
    """All solution regions in ``text`` (``where`` names it in errors); MarkerError on any
    malformed marker."""
    regions = []
    open_marker = None  # (line index, module id, indent) of an unclosed BEGIN
    for index, line in enumerate(text.splitlines()):
        match = _MARKER.match(line)
        if match is None:
            continue
        kind = match["kind"]
        module_id = _marker_module_id(match["rest"], where, index + 1, kind)
        if kind == "BEGIN":
            if open_marker is not None:
                raise MarkerError(
                    f"{where}:{index + 1}: BEGIN SOLUTION inside the region opened at line "
                    f"{open_marker[0] + 1}; close that one with '# END SOLUTION "
                    f"{open_marker[1]}' first (regions do not nest)"
                )
            open_marker = (index, module_id, match["indent"])
            continue
        if open_marker is None:
            raise MarkerError(
                f"{where}:{index + 1}: END SOLUTION without a BEGIN SOLUTION before it"
            )
        begin, begin_id, indent = open_marker
        if module_id != begin_id:
            raise MarkerError(
                f"{where}:{index + 1}: END SOLUTION {module_id} closes the region opened at "
                f"line {begin + 1} for module {begin_id}"
            )
        regions.append(SolutionRegion(module_id, begin, index, indent))
        open_marker = None
    if open_marker is not None:
        raise MarkerError(
            f"{where}:{open_marker[0] + 1}: BEGIN SOLUTION {open_marker[1]} is never closed; "
            f"add '# END SOLUTION {open_marker[1]}' after the solution"
        )
    return regions


def replace_solution_regions(
    text: str,
    module_id: str,
    where: str,
    blank: Callable[[SolutionRegion], str],
) -> str:
    """``text`` with each region of ``module_id`` (markers included) replaced by ``blank(region)``
    (the replacement lines without the final newline)."""
    module_id = get_module(module_id).id
    lines = text.splitlines(keepends=True)
    pieces, position = [], 0
    for region in find_solution_regions(text, where):
        if region.module_id != module_id:
            continue
        pieces.extend(lines[position : region.begin])
        ending = "\n" if region.end + 1 < len(lines) or lines[region.end].endswith("\n") else ""
        pieces.append(blank(region) + ending)
        position = region.end + 1
    pieces.extend(lines[position:])
    return "".join(pieces)

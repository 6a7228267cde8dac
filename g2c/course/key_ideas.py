"""Check a prose answer for the ideas it must contain, offline: each key idea is a few
regular expressions for the ways learners say it (generous on wording, strict on content)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyIdea:
    """One idea a prose answer must state, and patterns that recognise it."""

    description: str  # said to the learner when the idea is missing
    patterns: tuple[str, ...]

    def found_in(self, text: str) -> bool:
        lowered = " ".join(text.lower().split())  # one line: phrases may wrap
        return any(re.search(pattern, lowered) for pattern in self.patterns)


def missing_key_ideas(text: str, ideas: tuple[KeyIdea, ...]) -> list[KeyIdea]:
    """The ideas of ``ideas`` that ``text`` does not state, in order."""
    return [idea for idea in ideas if not idea.found_in(text)]


def check_prose(text, ideas: tuple[KeyIdea, ...]) -> tuple[bool, str]:
    """Grade a prose answer: passed when every key idea is present."""
    if not isinstance(text, str):
        return False, f"write your answer as a string (in quotes); got {type(text).__name__}."
    missing = missing_key_ideas(text, ideas)
    if not missing:
        return True, "all key ideas are there."
    found = len(ideas) - len(missing)
    return False, (
        f"{found} of {len(ideas)} key ideas found. Still missing: "
        + "; ".join(idea.description for idea in missing)
        + "."
    )

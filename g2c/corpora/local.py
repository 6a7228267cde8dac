"""Corpus sources for the user's own files: one file, or a folder of .txt/.md files.

"Unchanged input" means the same files with the same sizes and modification
times (``make``'s rule): it catches edits without re-reading gigabytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from g2c.corpora.source import CorpusSource
from g2c.corpora.text_files import (
    check_errors_mode,
    file_kind,
    iter_jsonl_documents,
    iter_separated_documents,
    read_text_document,
)


def _stat_entry(path: Path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


class LocalFileSource(CorpusSource):
    """A ``.txt``/``.md`` or ``.jsonl`` file (each optionally ``.gz``)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        separator: str | None = None,
        text_field: str = "text",
        errors: str = "strict",
    ):
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"corpus file not found: {path}")
        self.kind = file_kind(self.path)
        if self.kind is None:
            raise ValueError(
                f"unsupported corpus file {path}: expected .txt, .md or .jsonl "
                f"(optionally .gz), or a directory of .txt/.md files"
            )
        if separator is not None and (not isinstance(separator, str) or "\n" in separator):
            raise ValueError(f"separator must be one line of text; got {separator!r}")
        self.separator = separator
        self.text_field = text_field
        self.errors = check_errors_mode(errors)
        self.name = self.path.name

    def documents(self) -> Iterator[str]:
        if self.kind == "jsonl":
            return iter_jsonl_documents(self.path, self.text_field, errors=self.errors)
        if self.separator is not None:
            return iter_separated_documents(self.path, self.separator, errors=self.errors)
        return iter([read_text_document(self.path, errors=self.errors)])

    def fingerprint(self) -> dict:
        return {
            "kind": f"local_{self.kind}",
            "file": _stat_entry(self.path),
            "separator": self.separator if self.kind == "text" else None,
            "text_field": self.text_field if self.kind == "jsonl" else None,
            "errors": self.errors,
        }


class DirectorySource(CorpusSource):
    """Every ``.txt``/``.md`` file under a folder (recursively, sorted), one document each.

    Hidden files and folders (names starting with ".") are skipped.
    """

    def __init__(self, path: str | os.PathLike, *, errors: str = "strict"):
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise FileNotFoundError(f"corpus directory not found: {path}")
        self.errors = check_errors_mode(errors)
        self.name = self.path.name + "/"

    def files(self) -> list[Path]:
        found = [
            path
            for path in self.path.rglob("*")
            if path.is_file()
            and file_kind(path) == "text"
            and not any(part.startswith(".") for part in path.relative_to(self.path).parts)
        ]
        if not found:
            raise ValueError(f"corpus directory {self.path} holds no .txt or .md files")
        return sorted(found)

    def documents(self) -> Iterator[str]:
        for path in self.files():
            yield read_text_document(path, errors=self.errors)

    def fingerprint(self) -> dict:
        files = self.files()
        listing = "\n".join(_stat_entry(path) for path in files)
        return {
            "kind": "local_directory",
            "directory": str(self.path),
            "files": len(files),
            "listing_sha256": hashlib.sha256(listing.encode("utf-8")).hexdigest(),
            "errors": self.errors,
        }

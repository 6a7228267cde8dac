"""Read documents out of local files: .txt, .md and .jsonl, optionally gzip-compressed.

Files are read as bytes and decoded as UTF-8 here, so a bad byte is reported
with the file and its byte offset instead of crashing deep inside a
tokenizer (or, worse, being silently replaced):

    ValueError: notes/a.txt: invalid UTF-8 at byte offset 1234 (invalid start byte) ...

``errors="replace"`` opts in to replacing bad bytes with U+FFFD instead. For
``.gz`` files the offset counts decompressed bytes.

Layouts:

* ``.txt``/``.md``: the whole file is one document, or — with ``separator`` —
  a new document starts after every line equal to ``separator`` (the
  separator line itself is dropped). Separated files are streamed line by
  line, so they may be larger than memory.
* ``.jsonl``: one JSON object per line with a string field ``text_field``
  (``"text"`` by default); blank lines are ignored; a malformed line raises
  ValueError naming the file and line number.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

ERROR_MODES = ("strict", "replace")
TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl",)


def file_kind(path: Path) -> str | None:
    """"text" or "jsonl" from the name (``.gz`` is looked through); None if unsupported."""
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    suffix = suffixes[0].lower() if suffixes else ""
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    return None


def check_errors_mode(errors: str) -> str:
    if errors not in ERROR_MODES:
        raise ValueError(f"encoding_errors must be one of {ERROR_MODES}; got {errors!r}")
    return errors


def decode_utf8(data: bytes, *, path: Path, offset: int, errors: str) -> str:
    """Decode ``data`` (which starts at byte ``offset`` of ``path``) as UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if errors == "replace":
            return data.decode("utf-8", errors="replace")
        where = " of the decompressed data" if path.suffix == ".gz" else ""
        raise ValueError(
            f"{path}: invalid UTF-8 at byte offset {offset + error.start}{where} "
            f"({error.reason}); fix the file or ask for replacement characters with "
            f"encoding_errors='replace' (g2c prepare --replace-invalid-utf8)"
        ) from None


def _open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_text_document(path: Path, *, errors: str = "strict") -> str:
    """The whole file as one document."""
    with _open_binary(path) as file:
        return decode_utf8(file.read(), path=path, offset=0, errors=errors)


def iter_separated_documents(path: Path, separator: str, *, errors: str = "strict") -> Iterator[str]:
    """Documents between lines equal to ``separator``, streamed line by line.

    A UTF-8 character never contains the byte ``\\n``, so decoding each line
    on its own is exact.
    """
    lines: list[str] = []
    offset = 0
    with _open_binary(path) as file:
        for raw in file:
            line = decode_utf8(raw, path=path, offset=offset, errors=errors)
            offset += len(raw)
            if line.rstrip("\r\n") == separator:
                yield "".join(lines)
                lines = []
            else:
                lines.append(line)
    yield "".join(lines)


def iter_jsonl_documents(path: Path, text_field: str = "text", *, errors: str = "strict") -> Iterator[str]:
    """The ``text_field`` string of each JSON line."""
    offset = 0
    with _open_binary(path) as file:
        for number, raw in enumerate(file, start=1):
            line = decode_utf8(raw, path=path, offset=offset, errors=errors)
            offset += len(raw)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: malformed JSON ({error.msg} at column {error.colno}); "
                    f"every line must be one JSON object like {{\"{text_field}\": \"...\"}}"
                ) from None
            if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
                got = type(record).__name__ if not isinstance(record, dict) else (
                    f"keys {sorted(record)[:6]}" if text_field not in record
                    else f"{text_field!r} of type {type(record[text_field]).__name__}"
                )
                raise ValueError(
                    f"{path}:{number}: expected a JSON object with a string field "
                    f"{text_field!r}; got {got}"
                )
            yield record[text_field]

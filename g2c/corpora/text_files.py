"""Read documents out of local files: .txt, .md and .jsonl, optionally gzip-compressed.

Bytes are decoded as UTF-8 here, so a bad byte is an error naming the file
and byte offset, not a crash deep inside a tokenizer or a silent U+FFFD
(unless ``errors="replace"``). A ``.txt``/``.md`` file is one document, or
with ``separator`` a new one after every line equal to it (streamed line by
line). A ``.jsonl`` line is a ``text_field`` string or a ``"messages"``
conversation (:func:`g2c.corpora.chat.render_chat`); a malformed line is an
error naming the file and line number.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from g2c.corpora.chat import render_chat
from g2c.validation import require_choice

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
    return require_choice("encoding_errors", errors, ERROR_MODES)


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


@contextmanager
def _open_binary(path: Path) -> Iterator[BinaryIO]:
    """Open for reading bytes, decompressing ``.gz``; a broken gzip stream is a ValueError."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as file:
        try:
            yield file
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise ValueError(
                f"{path}: not a complete gzip file ({error}); copy or compress it again, or "
                f"use the uncompressed file"
            ) from None


def read_text_document(path: Path, *, errors: str = "strict") -> str:
    with _open_binary(path) as file:
        return decode_utf8(file.read(), path=path, offset=0, errors=errors)


def iter_separated_documents(path: Path, separator: str, *, errors: str = "strict") -> Iterator[str]:
    """Documents between lines equal to ``separator``, streamed line by line (exact: a UTF-8
    character never contains the byte ``\\n``)."""
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
    """Each JSON line's ``text_field`` string, or its rendered ``messages`` conversation."""
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
            yield _row_document(record, text_field, where=f"{path}:{number}")


def _row_document(record, text_field: str, *, where: str) -> str:
    """A JSONL row's document: its ``text_field`` string or its rendered conversation."""
    if isinstance(record, dict) and "messages" in record:
        if text_field in record:
            raise ValueError(
                f"{where}: the row holds both {text_field!r} and 'messages'; a row is either "
                f"a plain document ({text_field!r}) or a conversation ('messages'), not both"
            )
        try:
            return render_chat(record["messages"])
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
        got = type(record).__name__ if not isinstance(record, dict) else (
            f"keys {sorted(record)[:6]}" if text_field not in record
            else f"{text_field!r} of type {type(record[text_field]).__name__}"
        )
        raise ValueError(
            f"{where}: expected a JSON object with a string field {text_field!r}; got {got} "
            f"(a conversation row holds a 'messages' list instead)"
        )
    return record[text_field]

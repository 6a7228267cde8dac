"""What every g2c tokenizer shares: special tokens, checked decoding, one JSON file.

Both kinds reserve ``<|endoftext|>``, the separator written *between*
documents, at id 0 and emit it only when asked via ``eot_id``: the literal text
inside a document stays ordinary characters, so no document can forge a
boundary (``tok.encode("<|endoftext|>")`` never contains ``tok.eot_id``).
Every tokenizer saves to one JSON file; ``fingerprint``, the sha256 of its
canonical JSON, keeps a token file from being read with the wrong vocabulary.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from g2c.atomic_files import atomic_write_text
from g2c.validation import is_integer_dtype

EOT = "<|endoftext|>"
# The course's reserved tokens, in id order: the BPE always reserves all four
# (the chat ones for assistant-shaped corpora); a char tokenizer EOT alone or all four.
SPECIAL_TOKENS = (EOT, "<|user|>", "<|assistant|>", "<|end|>")
FILE_FORMAT = "g2c-tokenizer"
FILE_VERSION = 1


class BaseTokenizer(ABC):
    """Common interface of :class:`CharTokenizer` and :class:`G2CTokenizer`."""

    kind: str  # "char" or "bpe", written into the JSON file

    # -- what each kind provides -------------------------------------------------
    @property
    @abstractmethod
    def special_tokens(self) -> tuple[str, ...]:
        """The reserved tokens, in id order (``special_tokens[i]`` has id ``i``)."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """V: ids run from 0 to V-1."""

    @abstractmethod
    def encode_batch_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Encode many documents at once; one 1-D integer array per text."""

    @abstractmethod
    def token_byte_lengths(self) -> np.ndarray:
        """(V,) int64: how many UTF-8 bytes of text each id stands for (0 for specials)."""

    @abstractmethod
    def _decode_checked(self, ids: np.ndarray) -> str:
        """Decode ids already known to be integers in [0, V)."""

    @abstractmethod
    def _payload(self) -> dict:
        """The kind-specific part of the JSON file."""

    @classmethod
    @abstractmethod
    def _from_payload(cls, payload: dict, source: str) -> BaseTokenizer:
        """Rebuild from :meth:`_payload`; ``source`` names the file in errors."""

    # -- shared behaviour --------------------------------------------------------
    @property
    def eot_id(self) -> int:
        """The id of ``<|endoftext|>``, the document separator."""
        return self.special_id(EOT)

    def special_id(self, name: str) -> int:
        """The id of the special token ``name`` (e.g. ``"<|user|>"``)."""
        if name not in self.special_tokens:
            raise ValueError(
                f"unknown special token {name!r} for this {self.kind} tokenizer; "
                f"known: {', '.join(self.special_tokens)}"
            )
        return self.special_tokens.index(name)

    def encode(self, text: str) -> list[int]:
        """Encode one string to a list of ids (special-token text stays ordinary text)."""
        return self.encode_batch_arrays([_require_str("text", text)])[0].tolist()

    def decode(self, ids) -> str:
        """Turn ids (list, numpy array or tensor) back into text.

        Special ids decode to their names, so ``decode([eot_id])`` is
        ``"<|endoftext|>"``. Ids outside ``[0, vocab_size)`` raise ValueError.
        """
        array = np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids)
        if array.size == 0:
            return ""
        if array.ndim != 1 or not is_integer_dtype(array.dtype):
            raise TypeError(
                f"ids must be a 1-D sequence of integer token ids; got {array.ndim}-D "
                f"dtype {array.dtype}"
            )
        bad = (array < 0) | (array >= self.vocab_size)
        if bad.any():
            raise ValueError(
                f"ids out of range for vocab_size={self.vocab_size}: "
                f"{array[bad][:5].tolist()} (valid ids are 0..{self.vocab_size - 1})"
            )
        return self._decode_checked(array.astype(np.int64))

    def to_json(self) -> str:
        """The tokenizer as the text of its JSON file."""
        document = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "kind": self.kind,
            "special_tokens": list(self.special_tokens),
            **self._payload(),
        }
        return json.dumps(document, ensure_ascii=False, indent=1)

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON: equal fingerprints mean equal id mappings."""
        canonical = json.dumps(json.loads(self.to_json()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tokenizer to one JSON file (atomically); return its path."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> BaseTokenizer:
        """Read a file written by :meth:`save`; refuse files of another kind."""
        document = read_tokenizer_file(path)
        if document["kind"] != cls.kind:
            raise ValueError(
                f"{path} holds a {document['kind']!r} tokenizer, not a {cls.kind!r} one; "
                f"use g2c.tokenizer.load_tokenizer to load either kind"
            )
        tokenizer = cls._from_payload(document, str(path))
        if list(tokenizer.special_tokens) != document["special_tokens"]:
            raise ValueError(f"{path}: special tokens {document['special_tokens']} do not match "
                             f"the vocabulary stored in the file")
        return tokenizer

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, eot_id={self.eot_id})"


def read_tokenizer_file(path: str | os.PathLike) -> dict:
    """Parse a tokenizer JSON file and check its header; raise ValueError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a g2c tokenizer file (not valid JSON: {error})") from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        found = sorted(document)[:8] if isinstance(document, dict) else type(document).__name__
        raise ValueError(
            f"{path} is not a g2c tokenizer file (expected a JSON object with "
            f'"format": "{FILE_FORMAT}"; found {found})'
        )
    if document.get("version") != FILE_VERSION:
        raise ValueError(f"{path}: unsupported tokenizer file version {document.get('version')!r} "
                         f"(this g2c reads version {FILE_VERSION})")
    if document.get("kind") not in ("char", "bpe") or not isinstance(
        document.get("special_tokens"), list
    ):
        raise ValueError(f"{path}: tokenizer file has no valid 'kind' and 'special_tokens'")
    return document


def _require_str(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__}")
    return value


def checked_texts(texts: Iterable[str]) -> Iterator[str]:
    """Yield ``texts``; TypeError at the first item that is not a str (clearer than the
    libraries' message)."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a str; got {type(text).__name__}")
        yield text

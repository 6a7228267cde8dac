"""Character-level tokenizer: one id per Unicode character (the ShakespeareLM smoke track).

The vocabulary is ``<|endoftext|>`` (id 0) followed by every character seen
in training, sorted by code point:

    tok = CharTokenizer.train(["abba", "cab"])    # alphabet "abc"
    tok.vocab_size                                  -> 4      (3 characters + <|endoftext|>)
    tok.encode("cab")                               -> [3, 1, 2]
    tok.decode([3, 1, 2, tok.eot_id])               -> "cab<|endoftext|>"

A corpus of conversations needs the chat tokens too: ``special_tokens=
SPECIAL_TOKENS`` reserves ids 0..3 for ``<|endoftext|>``, ``<|user|>``,
``<|assistant|>``, ``<|end|>`` (the BPE's layout) and the characters follow.
As with ``<|endoftext|>``, text never encodes to them: only code that asks
for ``special_id(name)`` writes one (see ``g2c.corpora.chat``).

Encoding is vectorised: the text becomes its array of code points (via
UTF-32) and one table lookup maps every code point to its id at once — no
Python loop over characters. A character that was not in the training text
has no id and raises ValueError naming it and its position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from g2c.tokenizer.base import EOT, SPECIAL_TOKENS, BaseTokenizer, checked_texts


class CharTokenizer(BaseTokenizer):
    """Ids are positions in ``[*special_tokens, *sorted(alphabet)]``."""

    kind = "char"

    def __init__(self, alphabet: Iterable[str], *, special_tokens: Sequence[str] = (EOT,)):
        specials = tuple(special_tokens)
        if specials not in ((EOT,), SPECIAL_TOKENS):
            raise ValueError(f"special_tokens must be ({EOT!r},) or {SPECIAL_TOKENS}; "
                             f"got {specials!r}")
        self._specials = specials
        characters = list(alphabet)
        for character in characters:
            if not isinstance(character, str) or len(character) != 1:
                raise ValueError(f"alphabet must hold single characters; got {character!r}")
        characters = sorted(set(characters))
        if not characters:
            raise ValueError("alphabet is empty: a character tokenizer needs at least one character")
        self._alphabet = tuple(characters)
        codes = np.array([ord(c) for c in characters], dtype=np.int64)
        # table[code point] = id, -1 where the character is unknown.
        self._table = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
        self._table[codes] = np.arange(len(specials), len(specials) + len(codes))
        self._strings = np.array([*specials, *characters], dtype=object)

    @classmethod
    def train(cls, texts: Iterable[str], *, special_tokens: Sequence[str] = (EOT,)
              ) -> CharTokenizer:
        """Collect the alphabet of ``texts`` (an iterable of documents, read once)."""
        seen: set[str] = set()
        for text in checked_texts(texts):
            seen.update(text)
        if not seen:
            raise ValueError("cannot train a CharTokenizer on an empty corpus (no characters)")
        return cls(seen, special_tokens=special_tokens)

    @property
    def alphabet(self) -> tuple[str, ...]:
        return self._alphabet

    @property
    def special_tokens(self) -> tuple[str, ...]:
        return self._specials

    @property
    def vocab_size(self) -> int:
        return len(self._specials) + len(self._alphabet)

    def encode_batch_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self._encode_array(text) for text in checked_texts(texts)]

    def _encode_array(self, text: str) -> np.ndarray:
        try:
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        except UnicodeEncodeError as error:
            raise ValueError(
                f"text contains a lone surrogate {text[error.start]!r} at position "
                f"{error.start}: that is not Unicode text and has no character id"
            ) from None
        if len(codes) and codes.max() >= len(self._table):
            ids = np.full(len(codes), -1, dtype=np.int64)  # beyond the table: unknown
            known = codes < len(self._table)
            ids[known] = self._table[codes[known]]
        else:
            ids = self._table[codes]
        missing = np.flatnonzero(ids < 0)
        if len(missing):
            position = int(missing[0])
            raise ValueError(
                f"character {text[position]!r} (U+{ord(text[position]):04X}) at position "
                f"{position} is not in this CharTokenizer's alphabet of {len(self._alphabet)} "
                f"characters; train the tokenizer on text that contains it"
            )
        return ids

    def token_byte_lengths(self) -> np.ndarray:
        lengths = [len(c.encode("utf-8")) for c in self._alphabet]
        return np.array([0] * len(self._specials) + lengths, dtype=np.int64)

    def _decode_checked(self, ids: np.ndarray) -> str:
        return "".join(self._strings[ids])

    def _payload(self) -> dict:
        return {"alphabet": list(self._alphabet)}

    @classmethod
    def _from_payload(cls, payload: dict, source: str) -> CharTokenizer:
        alphabet = payload.get("alphabet")
        if not isinstance(alphabet, list) or not all(isinstance(c, str) for c in alphabet):
            raise ValueError(f"{source}: char tokenizer file has no 'alphabet' list of characters")
        if alphabet != sorted(set(alphabet)):
            # Ids are positions in the sorted alphabet: anything else would shift them.
            raise ValueError(f"{source}: the alphabet must be sorted and free of duplicates")
        try:
            return cls(alphabet, special_tokens=payload["special_tokens"])
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None

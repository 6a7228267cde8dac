"""Text <-> token ids: the course's byte-level BPE and a character tokenizer.

    G2CTokenizer.train(documents, vocab_size=4096)   byte-level BPE (HF tokenizers)
    CharTokenizer.train(documents)                   one id per character
    tok.encode(text) -> list[int];  tok.decode(ids) -> str
    tok.vocab_size, tok.eot_id, tok.special_id("<|user|>")
    tok.save(path);  load_tokenizer(path)            one JSON file, either kind

Both reserve ``<|endoftext|>`` at id 0 as the document separator and never
produce it from text — the literal string in a document stays ordinary text.
"""

from __future__ import annotations

import os

from g2c.tokenizer.base import EOT, SPECIAL_TOKENS, BaseTokenizer, read_tokenizer_file
from g2c.tokenizer.bpe import G2CTokenizer
from g2c.tokenizer.char import CharTokenizer

TOKENIZER_KINDS = {"char": CharTokenizer, "bpe": G2CTokenizer}


def load_tokenizer(path: str | os.PathLike) -> BaseTokenizer:
    """Load a tokenizer file of either kind (the file says which)."""
    kind = read_tokenizer_file(path)["kind"]
    return TOKENIZER_KINDS[kind].load(path)


__all__ = [
    "EOT",
    "SPECIAL_TOKENS",
    "TOKENIZER_KINDS",
    "BaseTokenizer",
    "CharTokenizer",
    "G2CTokenizer",
    "load_tokenizer",
]

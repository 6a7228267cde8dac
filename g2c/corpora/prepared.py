"""Open a prepared corpus: two memory-mapped token streams, their document index, the tokenizer.

    prepared = open_prepared("data/shakespeare-bpe")
    prepared.train                 np.memmap (n_train,) uint16/uint32 — get_lm_batch samples it directly
    prepared.train_doc_offsets     (docs,) int64: index of each document's first token
    prepared.tokenizer.decode(prepared.val[:50])

Memory-mapping means only the pages a batch touches are read from disk, so a
stream larger than RAM trains fine. Opening checks the directory against its
manifest — file sizes, dtype, the tokenizer's fingerprint, the document
index — and refuses a mismatch: ids read with the wrong vocabulary or dtype
would train a model on garbage without any error. ``verify_checksums=True``
also re-hashes the token files and checks every id is below V (a full read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from g2c.corpora.manifest import read_manifest
from g2c.corpora.token_writer import CHUNK_BYTES, sha256_file, token_dtype
from g2c.tokenizer import BaseTokenizer, load_tokenizer

SPLITS = ("train", "val")


@dataclass(frozen=True, eq=False)
class PreparedCorpus:
    """A verified prepared-corpus directory (see :func:`open_prepared`)."""

    directory: Path
    manifest: dict
    tokenizer: BaseTokenizer
    train: np.memmap
    val: np.memmap
    train_doc_offsets: np.ndarray
    val_doc_offsets: np.ndarray

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def eot_id(self) -> int:
        return self.tokenizer.eot_id

    def __repr__(self) -> str:
        return (f"PreparedCorpus({str(self.directory)!r}, {self.manifest['corpus']['name']!r}, "
                f"{self.tokenizer.kind} V={self.vocab_size}, train={len(self.train):,} tokens, "
                f"val={len(self.val):,} tokens)")


def _mismatch(directory: Path, what: str) -> ValueError:
    return ValueError(
        f"prepared corpus {directory} does not match its manifest: {what}; it was modified "
        f"or is incomplete — re-run g2c prepare (with --overwrite) to rebuild it"
    )


def open_prepared(directory: str | os.PathLike, *, verify_checksums: bool = False) -> PreparedCorpus:
    """Open and verify a directory written by ``prepare_corpus``."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        tokenizer_entry, dtype_name = manifest["tokenizer"], manifest["dtype"]
        splits = {name: manifest["splits"][name] for name in SPLITS}
    except (KeyError, TypeError) as error:
        raise _mismatch(directory, f"the manifest lacks {error}") from None
    tokenizer = load_tokenizer(directory / tokenizer_entry["file"])
    if tokenizer.fingerprint != tokenizer_entry["sha256"]:
        raise _mismatch(directory, f"tokenizer fingerprint {tokenizer.fingerprint[:12]}… is "
                                   f"not the recorded {tokenizer_entry['sha256'][:12]}…")
    if tokenizer.vocab_size != tokenizer_entry["vocab_size"]:
        raise _mismatch(directory, f"tokenizer vocab_size {tokenizer.vocab_size} != "
                                   f"{tokenizer_entry['vocab_size']}")
    dtype = token_dtype(tokenizer.vocab_size)
    if dtype_name != dtype.name:
        raise _mismatch(directory, f"dtype {dtype_name!r} cannot hold V={tokenizer.vocab_size} "
                                   f"as written (expected {dtype.name})")
    streams, offsets = {}, {}
    for name, entry in splits.items():
        path = directory / entry["file"]
        expected = entry["tokens"] * dtype.itemsize
        actual = path.stat().st_size if path.is_file() else None
        if actual != expected:
            raise _mismatch(directory, f"{entry['file']} has {actual} bytes, expected "
                                       f"{entry['tokens']:,} {dtype.name} tokens = {expected:,}")
        if verify_checksums:
            _verify_file(directory, path, entry["sha256"], dtype, tokenizer.vocab_size)
        streams[name] = np.memmap(path, dtype=dtype, mode="r")
        offsets[name] = _load_offsets(directory, directory / entry["doc_offsets_file"],
                                      entry["documents"], entry["tokens"])
    return PreparedCorpus(
        directory=directory,
        manifest=manifest,
        tokenizer=tokenizer,
        train=streams["train"],
        val=streams["val"],
        train_doc_offsets=offsets["train"],
        val_doc_offsets=offsets["val"],
    )


def _load_offsets(directory: Path, path: Path, documents: int, tokens: int) -> np.ndarray:
    if not path.is_file():
        raise _mismatch(directory, f"document index {path.name} is missing")
    offsets = np.load(path, allow_pickle=False)
    valid = (
        offsets.dtype == np.int64
        and offsets.ndim == 1
        and len(offsets) == documents
        and len(offsets) > 0
        and offsets[0] == 0
        and offsets[-1] < tokens
        and bool(np.all(np.diff(offsets) > 0))
    )
    if not valid:
        raise _mismatch(directory, f"document index {path.name} is not {documents:,} increasing "
                                   f"int64 starts in [0, {tokens:,})")
    return offsets


def _verify_file(directory: Path, path: Path, sha256: str, dtype: np.dtype, vocab_size: int):
    if sha256_file(path) != sha256:
        raise _mismatch(directory, f"{path.name} sha256 differs from the manifest")
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            if int(np.frombuffer(chunk, dtype=dtype).max()) >= vocab_size:
                raise _mismatch(directory, f"{path.name} holds ids ≥ vocab_size {vocab_size}")

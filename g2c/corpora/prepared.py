"""Open a prepared corpus: two memory-mapped token streams, their document index, the tokenizer.

Memory-mapping reads only the pages a batch touches, so a stream larger than
RAM trains fine. Opening verifies the directory against its manifest (file
sizes, every sha256, the tokenizer, every id below V, the document index),
because wrong ids or flipped bytes would otherwise train on garbage without
an error; each failure is a one-line :class:`PreparedCorpusMismatch`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from g2c.corpora.manifest import data_files, data_sha256, read_manifest, sha256_file
from g2c.corpora.token_writer import CHUNK_BYTES, token_dtype
from g2c.tokenizer import BaseTokenizer, load_tokenizer
from g2c.validation import require_positive_int

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

    @property
    def data_hash(self) -> str:
        """sha256 over every data file's sha256: the corpus part of a run's identity."""
        return self.manifest["data_sha256"]

    def __repr__(self) -> str:
        return (f"PreparedCorpus({str(self.directory)!r}, {self.manifest['corpus']['name']!r}, "
                f"{self.tokenizer.kind} V={self.vocab_size}, train={len(self.train):,} tokens, "
                f"val={len(self.val):,} tokens)")


def tokenizer_choice(tokenizer) -> str | BaseTokenizer:
    """What a ``tokenizer=`` argument asks for: ``"char"``/``"bpe"`` (a kind to train), or
    a tokenizer to use as is (a path is loaded). TypeError for anything else."""
    if isinstance(tokenizer, (str, os.PathLike)):
        name = os.fspath(tokenizer)
        return name if name in ("char", "bpe") else load_tokenizer(tokenizer)
    if not isinstance(tokenizer, BaseTokenizer):
        raise TypeError(f"tokenizer must be 'bpe', 'char', a tokenizer file path or a tokenizer; "
                        f"got {type(tokenizer).__name__}")
    return tokenizer


class PreparedCorpusMismatch(ValueError):
    """A prepared directory that no longer matches its manifest; ``problem`` says how."""

    def __init__(self, directory: Path, problem: str):
        self.problem = problem
        super().__init__(f"prepared corpus {directory} does not match its manifest: {problem}; "
                         f"prepare it again (g2c prepare --overwrite) to rebuild it")


def open_prepared(directory: str | os.PathLike, *, tokenizer=None,
                  vocab_size: int | None = None) -> PreparedCorpus:
    """Open and verify a directory written by ``prepare_corpus``.

    ``tokenizer`` and ``vocab_size`` (None: any) are what the caller asked for: a
    directory prepared with another tokenizer is a ValueError naming both, rather
    than a request silently ignored.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    try:
        tokenizer_entry, dtype = manifest["tokenizer"], np.dtype(manifest["dtype"])
        splits = {name: manifest["splits"][name] for name in SPLITS}
        files, recorded_data_sha256 = data_files(manifest), manifest["data_sha256"]
    except KeyError as error:
        raise PreparedCorpusMismatch(directory, f"the manifest lacks {error}") from None
    except TypeError as error:
        raise PreparedCorpusMismatch(directory, f"the manifest is malformed ({error})") from None
    for entry in splits.values():
        path = directory / entry["file"]
        expected = entry["tokens"] * dtype.itemsize
        actual = path.stat().st_size if path.is_file() else None
        if actual != expected:
            raise PreparedCorpusMismatch(directory, f"{entry['file']} has {actual} bytes, expected "
                                         f"{entry['tokens']:,} {dtype.name} tokens = {expected:,}")
    _verify_hashes(directory, files, recorded_data_sha256)
    loaded = load_tokenizer(directory / tokenizer_entry["file"])
    consistent = (loaded.fingerprint == tokenizer_entry["sha256"]
                  and loaded.vocab_size == tokenizer_entry["vocab_size"]
                  and token_dtype(loaded.vocab_size) == dtype)
    if not consistent:  # only a hand-edited manifest gets here: the hashes matched
        raise PreparedCorpusMismatch(directory, f"the manifest's tokenizer entry and {dtype.name} "
                                     f"ids do not describe {tokenizer_entry['file']} (V="
                                     f"{loaded.vocab_size})")
    _require_asked_tokenizer(directory, manifest, loaded, tokenizer, vocab_size)
    streams, offsets = {}, {}
    for name, entry in splits.items():
        streams[name] = np.memmap(directory / entry["file"], dtype=dtype, mode="r")
        largest = _largest_id(directory / entry["file"], dtype)
        if largest >= loaded.vocab_size:
            raise PreparedCorpusMismatch(directory, f"{entry['file']} holds id {largest}, not "
                                         f"below the tokenizer's vocab_size {loaded.vocab_size}")
        offsets[name] = _load_offsets(directory, directory / entry["doc_offsets_file"],
                                      entry["documents"], entry["tokens"])
    return PreparedCorpus(
        directory=directory,
        manifest=manifest,
        tokenizer=loaded,
        train=streams["train"],
        val=streams["val"],
        train_doc_offsets=offsets["train"],
        val_doc_offsets=offsets["val"],
    )


def _verify_hashes(directory: Path, files: dict[str, str], recorded_data_sha256: str) -> None:
    for name, sha256 in files.items():
        path = directory / name
        if not path.is_file():
            raise PreparedCorpusMismatch(directory, f"{name} is missing")
        if sha256_file(path) != sha256:
            raise PreparedCorpusMismatch(directory, f"{name} has changed since it was prepared "
                                         f"(its sha256 is not the one in the manifest)")
    if data_sha256(files) != recorded_data_sha256:
        raise PreparedCorpusMismatch(directory, "its data_sha256 is not the hash of the files' "
                                     "sha256s")


def _load_offsets(directory: Path, path: Path, documents: int, tokens: int) -> np.ndarray:
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
        raise PreparedCorpusMismatch(directory, f"document index {path.name} is not "
                                     f"{documents:,} increasing int64 starts in [0, {tokens:,})")
    return offsets


def _require_asked_tokenizer(directory: Path, manifest: dict, own: BaseTokenizer, tokenizer,
                             vocab_size) -> None:
    """Refuse the directory unless its tokenizer ``own`` is the one asked for (None: any)."""
    has = f"{directory} was prepared with a {own.kind} tokenizer of V={own.vocab_size}"
    advice = ("leave the tokenizer and vocab size unset to train with the prepared one, or "
              "prepare the corpus again with the one you want")
    if tokenizer is not None:
        choice = tokenizer_choice(tokenizer)
        same = own.kind == choice if isinstance(choice, str) else choice.fingerprint == own.fingerprint
        if not same:
            asked = os.fspath(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else choice
            raise ValueError(f"{has}, not the tokenizer {asked!r} asked for; {advice}")
    if vocab_size is not None:
        requested = manifest["recipe"]["tokenizer"].get("vocab_size")
        if require_positive_int("vocab_size", vocab_size) not in (own.vocab_size, requested):
            raise ValueError(f"{has}, not the vocab_size={vocab_size} asked for; {advice}")


def _largest_id(path: Path, dtype: np.dtype) -> int:
    """The largest id in a token file, read in chunks: mapping it would make every page
    of a multi-GB file count towards this process's resident memory."""
    largest = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            largest = max(largest, int(np.frombuffer(chunk, dtype=dtype).max()))
    return largest

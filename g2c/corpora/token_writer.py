"""Stream encoded documents to disk, then cut the stream into train and val by tokens.

Documents go to one token file with ``<|endoftext|>`` *between* them, and each
document's first index to an offsets file:

    docs     "ab"  "cde"  "f"
    stream   a b E c d e E f          (E = eot_id)
    offsets  0     3       7

Splitting: train is the first ``cut`` tokens, val the rest. Only the tail is
copied into val.bin and the stream truncated, so the big train part is never
copied. Val's offsets start with 0 even when the cut falls inside a document:

    cut = 5:  train a b E c d     offsets [0, 3]
              val   e E f         offsets [0, 2]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_BYTES = 4 << 20  # the val copy reads 4 MiB at a time


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits (V ≤ 65,536), else uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


class TokenStreamWriter:
    """Append documents (arrays of ids) to ``path``, joined by ``eot_id``."""

    def __init__(self, path: Path, offsets_path: Path, *, dtype: np.dtype, eot_id: int):
        self.dtype = np.dtype(dtype)
        self.eot_id = eot_id
        self.tokens = 0
        self.documents = 0
        self._stream = open(path, "wb")
        self._offsets = open(offsets_path, "wb")

    def write_batch(self, documents: list[np.ndarray]) -> None:
        """Append a batch of non-empty documents with one copy and two writes."""
        if not documents:
            return
        lengths = np.array([len(ids) for ids in documents], dtype=np.int64)
        separator = np.array([self.eot_id], dtype=self.dtype)
        parts = []
        for ids in documents:
            if self.documents or parts:  # an eot before every document but the first
                parts.append(separator)
            parts.append(ids.astype(self.dtype, copy=False))
        joined = np.concatenate(parts)
        leading_eot = 1 if self.documents else 0
        starts = self.tokens + leading_eot + np.concatenate(([0], np.cumsum(lengths[:-1] + 1)))
        self._stream.write(joined.tobytes())
        self._offsets.write(starts.astype(np.int64).tobytes())
        self.tokens += len(joined)
        self.documents += len(documents)

    def close(self) -> None:
        self._stream.close()
        self._offsets.close()


@dataclass(frozen=True)
class SplitResult:
    """Token counts, val's text bytes and each split's document starts after :func:`split_stream`."""

    cut: int
    train_tokens: int
    val_tokens: int
    val_bytes: int
    train_offsets: np.ndarray
    val_offsets: np.ndarray


def split_stream(
    stream_path: Path,
    offsets_path: Path,
    val_path: Path,
    *,
    cut: int,
    dtype: np.dtype,
    token_bytes: np.ndarray,
) -> SplitResult:
    """Move tokens ``[cut:]`` of ``stream_path`` to ``val_path``; keep ``[:cut]`` in place.
    Val's text bytes are summed from ``token_bytes[id]`` during the copy."""
    itemsize = np.dtype(dtype).itemsize
    val_bytes = 0
    with open(stream_path, "rb") as source, open(val_path, "wb") as target:
        source.seek(cut * itemsize)
        while chunk := source.read(CHUNK_BYTES - CHUNK_BYTES % itemsize):
            target.write(chunk)
            val_bytes += int(token_bytes[np.frombuffer(chunk, dtype=dtype)].sum())
        total = source.tell() // itemsize
    os.truncate(stream_path, cut * itemsize)
    offsets = np.fromfile(offsets_path, dtype=np.int64)
    first_val = int(np.searchsorted(offsets, cut))
    val_offsets = offsets[first_val:] - cut
    if len(val_offsets) == 0 or val_offsets[0] != 0:
        val_offsets = np.concatenate(([0], val_offsets))  # val opens mid-document
    return SplitResult(
        cut=cut,
        train_tokens=cut,
        val_tokens=total - cut,
        val_bytes=val_bytes,
        train_offsets=offsets[:first_val].copy(),
        val_offsets=val_offsets.astype(np.int64),
    )


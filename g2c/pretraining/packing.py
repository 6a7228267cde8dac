"""Packed documents: training rows made of whole documents, with document ids.

:func:`get_lm_batch` cuts random windows out of the stream, so most windows
straddle a document boundary and the model practises predicting one document
from the tail of another. Packing lays whole documents side by side in rows
of T+1 tokens instead, and says which document every token belongs to, so
attention can stay inside each document (``g2c.transformer.document_mask``).

**Pieces.** Cut the stream at every ``<|endoftext|>`` separator (E) and,
inside a document too long for one row, every T tokens. A *piece* runs from
one cut to the next with *both ends included*, so neighbours share the cut
token. With T = 4 (rows of 5 tokens):

    stream   a b c E d e E f g h i j k
    pieces   [a b c E]  [E d e E]  [E f g h i]  [i j k]
                                    └ too long: split after T pairs, i is shared

A piece of k+1 tokens holds k next-token pairs, and every pair of the stream
lies in exactly one piece — packing loses no training signal. E is the target
that ends its document (learn to stop) and the first input of the next one
(learn how documents begin).

**Rows.** A piece of T+1 tokens fills a row alone; shorter pieces are packed
best-fit decreasing (longest first, each into the fullest row it still fits),
and what is left of a row is padding. The plan is pure index arithmetic on
the prepared document index; no token is read until a batch is gathered.

**Targets.** ``y[t] = x[t+1]`` only inside one piece. Across a piece edge the
neighbour is some unrelated document, and a padding slot is nothing at all, so
those targets are ``-100`` — the ``ignore_index`` of ``g2c.nn.CrossEntropyLoss``
and therefore of :func:`lm_cross_entropy`.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from g2c.pretraining.token_stream import check_token_stream
from g2c.pretraining.windows import check_document_offsets, move_batch
from g2c.validation import (
    is_integer_dtype,
    require_bool,
    require_non_negative_int,
    require_positive_int,
)

IGNORE_INDEX = -100  # the target value lm_cross_entropy leaves out of the loss


@dataclass(frozen=True, eq=False)
class PackingPlan:
    """Which stream tokens go into which row; made by :func:`pack_documents`.

    Pieces are stored row by row: row r holds pieces
    ``row_offsets[r] : row_offsets[r + 1]``, in stream order. Piece p is the
    tokens ``ids[piece_starts[p] : piece_starts[p] + piece_lengths[p]]``.
    """

    context_length: int  # T; a row holds T + 1 tokens
    num_tokens: int  # length of the stream the offsets index
    num_documents: int
    num_split_documents: int  # documents cut into several pieces
    piece_starts: np.ndarray  # (P,) int64
    piece_lengths: np.ndarray  # (P,) int64, 2 … T+1
    piece_opens_document: np.ndarray  # (P,) bool: first token is a separator
    piece_closes_document: np.ndarray  # (P,) bool: last token is a separator
    row_offsets: np.ndarray  # (R + 1,) int64

    @property
    def num_rows(self) -> int:
        return len(self.row_offsets) - 1

    @property
    def padding_fraction(self) -> float:
        """Share of the R·(T+1) row slots that hold padding."""
        slots = self.num_rows * (self.context_length + 1)
        return 1.0 - int(self.piece_lengths.sum()) / slots

    def summary(self) -> dict:
        """Plain numbers for a manifest: what packing did to this split."""
        return {
            "context_length": self.context_length,
            "documents": self.num_documents,
            "split_documents": self.num_split_documents,
            "rows": self.num_rows,
            "padding_fraction": round(self.padding_fraction, 6),
        }


class PackedBatch(NamedTuple):
    """Four (B, T) int64 tensors; unpack as ``x, y, document_ids, position_ids``.

    ``document_ids[b]`` numbers the pieces of row b 0, 1, 2, … left to right
    (padding gets the next number), so it never decreases along a row.
    """

    x: torch.Tensor
    y: torch.Tensor  # IGNORE_INDEX where there is nothing to predict
    document_ids: torch.Tensor
    position_ids: torch.Tensor

    def to(self, device: torch.device | str) -> PackedBatch:
        """Move all four tensors (to CUDA through pinned memory, without blocking)."""
        return PackedBatch(*(move_batch(t, device) for t in self))


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    np.cumsum(values[:-1], out=out[1:])
    return out


def _concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concat([arange(s, s + c) for s, c in zip(starts, counts)])`` without a loop."""
    shift = np.repeat(starts - _exclusive_cumsum(counts), counts)
    return shift + np.arange(int(counts.sum()), dtype=np.int64)


def _best_fit_decreasing(lengths: np.ndarray, capacity: int) -> tuple[np.ndarray, int]:
    """Row of every piece, and the number of rows, packing longest pieces first.

    Open rows sit in buckets by free space; ``free_sizes`` lists the non-empty
    buckets in order, so the fullest row that fits is one bisect away.
    """
    rows = np.empty(len(lengths), dtype=np.int64)
    buckets: list[list[int]] = [[] for _ in range(capacity + 1)]
    free_sizes: list[int] = []
    num_rows = 0
    for piece in np.argsort(-lengths, kind="stable").tolist():
        need = int(lengths[piece])
        i = bisect_left(free_sizes, need)
        if i == len(free_sizes):
            row, free = num_rows, capacity
            num_rows += 1
        else:
            free = free_sizes[i]
            row = buckets[free].pop()
            if not buckets[free]:
                del free_sizes[i]
        rows[piece] = row
        free -= need
        if free >= 2:  # the shortest piece is one pair: 2 tokens
            if not buckets[free]:
                insort(free_sizes, free)
            buckets[free].append(row)
    return rows, num_rows


def pack_documents(doc_offsets, num_tokens: int, context_length: int) -> PackingPlan:
    """Plan rows of T+1 tokens from a prepared split's document index.

    Args:
        doc_offsets: (D,) start index of each document in the stream (the
            ``train_doc_offsets`` / ``val_doc_offsets`` of a prepared corpus);
            document i ends with the separator at ``doc_offsets[i+1] - 1``.
        num_tokens: length of that split's stream.
        context_length: T, tokens the model reads per row.

    A document fits one row when it and its two separators fit in T+1
    tokens; longer ones are cut into pieces of T pairs and counted in
    ``num_split_documents``.
    """
    num_tokens = require_positive_int("num_tokens", num_tokens)
    context = require_positive_int("context_length", context_length)
    if num_tokens < 2:
        raise ValueError(f"num_tokens={num_tokens}: a stream needs 2 tokens to hold one pair")
    offsets = check_document_offsets(doc_offsets, num_tokens)
    separators = offsets[1:] - 1
    # Cut points: the stream's ends and every separator (np.unique: an empty
    # first document puts a separator at 0). Span s runs cuts[s] .. cuts[s+1].
    cuts = np.unique(np.concatenate([[0], separators, [num_tokens - 1]]))
    is_separator = np.zeros(len(cuts), dtype=bool)
    is_separator[np.searchsorted(cuts, separators)] = True
    pairs = np.diff(cuts)
    per_span = -(-pairs // context)  # ceil: pieces of at most T pairs
    span = np.repeat(np.arange(len(pairs)), per_span)
    index_in_span = np.arange(len(span)) - np.repeat(_exclusive_cumsum(per_span), per_span)
    starts = cuts[span] + index_in_span * context
    lengths = np.minimum(context, cuts[span + 1] - starts) + 1
    opens = (index_in_span == 0) & is_separator[span]
    closes = (index_in_span == per_span[span] - 1) & is_separator[span + 1]

    # Full pieces fill a row alone; only the rest needs the packing loop.
    full = lengths == context + 1
    rows = np.empty(len(lengths), dtype=np.int64)
    rows[full] = np.arange(int(full.sum()))
    partial_rows, num_partial_rows = _best_fit_decreasing(lengths[~full], context + 1)
    rows[~full] = partial_rows + int(full.sum())
    order = np.lexsort((starts, rows))  # row by row, stream order inside a row
    counts = np.bincount(rows, minlength=int(full.sum()) + num_partial_rows)
    return PackingPlan(
        context_length=context,
        num_tokens=num_tokens,
        num_documents=len(offsets),
        num_split_documents=int((per_span > 1).sum()),
        piece_starts=starts[order],
        piece_lengths=lengths[order],
        piece_opens_document=opens[order],
        piece_closes_document=closes[order],
        row_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    )


def _require_plan(plan) -> None:
    if not isinstance(plan, PackingPlan):
        raise TypeError(
            f"plan must be a PackingPlan from pack_documents; got {type(plan).__name__}"
        )


def _check_eot_id(eot_id, eot_loss: bool) -> None:
    require_bool("eot_loss", eot_loss)
    if eot_id is None:
        if not eot_loss:
            raise ValueError(
                "eot_loss=False needs eot_id (the tokenizer's eot_id) to know which "
                "targets are <|endoftext|>"
            )
        return
    require_non_negative_int("eot_id", eot_id)


def _check_separators(plan, tokens, src, piece, offset_in_piece, length, eot_id) -> None:
    """Tokens are <|endoftext|> exactly where the document index says (never silently
    train on an index that belongs to another stream)."""
    expected = (plan.piece_opens_document[piece] & (offset_in_piece == 0)) | (
        plan.piece_closes_document[piece] & (offset_in_piece == length - 1)
    )
    wrong = ((tokens == eot_id) != expected) & (src != plan.num_tokens - 1)  # trailing E is fine
    if wrong.any():
        i = int(np.argmax(wrong))
        found = "holds <|endoftext|>" if expected[i] == 0 else f"holds token {int(tokens[i])}"
        raise ValueError(
            f"doc_offsets do not match ids: stream position {int(src[i])} {found} but the "
            f"document index says it is {'a separator' if expected[i] else 'inside a document'}"
            f" (eot_id={eot_id}); build the plan from this split's own offsets"
        )


def get_packed_rows(
    ids,
    plan: PackingPlan,
    rows,
    *,
    restart_positions: bool = True,
    eot_loss: bool = True,
    eot_id: int | None = None,
) -> PackedBatch:
    """Gather the given plan rows (a sequence of row indices) as a :class:`PackedBatch`.

    ``restart_positions``: position ids count from 0 in every piece (else
    0 … T-1 along the row). ``eot_loss=False`` also ignores every target that
    is ``<|endoftext|>``. With ``eot_id`` each gathered token is checked
    against the document index.
    """
    check_token_stream("ids", ids)
    _require_plan(plan)
    if len(ids) != plan.num_tokens:
        raise ValueError(
            f"ids has {len(ids)} tokens but the plan was made for num_tokens={plan.num_tokens}; "
            f"pack the doc_offsets that belong to this stream"
        )
    _check_eot_id(eot_id, eot_loss)
    rows = np.asarray(rows)
    if rows.ndim != 1 or not is_integer_dtype(rows.dtype) or len(rows) == 0:
        raise ValueError(f"rows must be a non-empty 1-D sequence of ints; got {rows!r}")
    if rows.min() < 0 or rows.max() >= plan.num_rows:
        raise ValueError(
            f"rows must lie in [0, {plan.num_rows}); got {rows.min()} … {rows.max()}"
        )
    batch, width = len(rows), plan.context_length + 1

    first = plan.row_offsets[rows]
    count = plan.row_offsets[rows + 1] - first
    piece = _concat_ranges(first, count)  # pieces of the chosen rows, row by row
    length = plan.piece_lengths[piece]
    local_doc = np.arange(len(piece)) - np.repeat(_exclusive_cumsum(count), count)
    before = _exclusive_cumsum(length)  # tokens before each piece in the batch
    column = before - np.repeat(before[_exclusive_cumsum(count)], count)
    # One entry per gathered token: which piece, where in it, where it comes from and goes.
    token_piece = np.repeat(np.arange(len(piece)), length)
    src = _concat_ranges(plan.piece_starts[piece], length)
    offset_in_piece = src - plan.piece_starts[piece][token_piece]
    dst_row = np.repeat(np.repeat(np.arange(batch), count), length)
    dst = (dst_row, column[token_piece] + offset_in_piece)

    if isinstance(ids, torch.Tensor):  # gather where the stream lives, copy back only B·(T+1)
        tokens = ids[torch.from_numpy(src).to(ids.device)].cpu().numpy().astype(np.int64)
    else:
        tokens = np.asarray(ids[src], dtype=np.int64)  # one fancy read, also from np.memmap
    if eot_id is not None:
        _check_separators(plan, tokens, src, piece[token_piece], offset_in_piece,
                          length[token_piece], eot_id)

    window = np.zeros((batch, width), dtype=np.int64)  # padding token: id 0, never a target
    window[dst] = tokens
    real = np.zeros((batch, width), dtype=bool)
    real[dst] = True
    documents = np.repeat(count[:, None], width, axis=1)  # padding: one past the last piece
    documents[dst] = local_doc[token_piece]
    if restart_positions:
        positions = np.zeros((batch, width), dtype=np.int64)
        positions[dst] = offset_in_piece
    else:
        positions = np.broadcast_to(np.arange(width), (batch, width))

    targets = window[:, 1:].copy()
    keep = real[:, 1:] & (documents[:, 1:] == documents[:, :-1])
    if not eot_loss:
        keep &= targets != eot_id
    targets[~keep] = IGNORE_INDEX
    return PackedBatch(
        torch.from_numpy(window[:, :-1].copy()),
        torch.from_numpy(targets),
        torch.from_numpy(documents[:, :-1].copy()),
        torch.from_numpy(positions[:, :-1].copy()),
    )


def get_packed_batch(
    ids,
    plan: PackingPlan,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    restart_positions: bool = True,
    eot_loss: bool = True,
    eot_id: int | None = None,
    device: torch.device | str | None = None,
) -> PackedBatch:
    """Draw ``batch_size`` plan rows uniformly; return ``x, y, document_ids, position_ids``.

    All four are (B, T) int64. Feed them as
    ``lm_cross_entropy(model(x, document_ids=..., position_ids=...), y)``;
    the ``-100`` targets drop out of the loss. Other arguments: see
    :func:`get_packed_rows`.
    """
    batch_size = require_positive_int("batch_size", batch_size)
    _require_plan(plan)
    rows = torch.randint(0, plan.num_rows, (batch_size,), generator=generator).numpy()
    batch = get_packed_rows(
        ids, plan, rows, restart_positions=restart_positions, eot_loss=eot_loss, eot_id=eot_id
    )
    return batch if device is None else batch.to(device)

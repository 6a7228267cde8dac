"""Document-aware windows: never let a training window run from one document into the next.

A prepared stream is documents joined by ``<|endoftext|>`` (E), and its
document index holds each document's first position:

    stream   a b c d E f g E h i j k l       offsets [0, 5, 8]
    spans    [a b c d E] [f g E] [h i j k l]  (a document owns its trailing E)

A window is T+1 tokens (x plus the one-step shift y). With T = 3 (windows of
4 tokens) the valid starts are

    document 0, span 5 >= 4:  starts 0, 1          -> a b c d,  b c d E
    document 1, span 3 <  4:  start 5 only         -> f g E h   (too short: the window
                                                       starts at the document and the
                                                       separator E stays visible)
    document 2, span 5 >= 4:  starts 8, 9

and a batch draws starts uniformly from that union (5 starts here), so every
valid window is equally likely — long documents contribute in proportion to
their length, as in plain ``get_lm_batch``. A window may end *on* E (the model
learns to predict the end of a document) but never continues past it unless
its document is shorter than the window.
"""

from __future__ import annotations

import numpy as np
import torch

from g2c.pretraining.token_stream import check_token_stream
from g2c.pretraining.windows import (
    check_document_offsets,
    require_window_fits,
    window_batch,
)
from g2c.validation import require_positive_int


class DocumentSampler:
    """Draw (B, T) batches whose windows stay inside one document where possible.

    Args:
        ids: 1-D token stream (tensor, numpy array or ``np.memmap``).
        doc_offsets: 1-D integer array, the first position of each document:
            starts at 0, strictly increasing, below ``len(ids)`` (as written
            by ``prepare_corpus``: ``prepared.train_doc_offsets``).
        context_length: T.

    Precomputes the number of valid starts per document once, so a batch
    costs one ``randint`` and one ``searchsorted``.
    """

    def __init__(self, ids, doc_offsets, context_length: int):
        check_token_stream("ids", ids)
        self.context_length = require_positive_int("context_length", context_length)
        offsets = check_document_offsets(doc_offsets, len(ids))
        require_window_fits(len(ids), self.context_length)  # then the first document has a start
        self.ids = ids
        window = self.context_length + 1
        ends = np.append(offsets[1:], len(ids))
        spans = ends - offsets
        fits_in_stream = offsets + window <= len(ids)
        counts = np.where(spans >= window, spans - window + 1, fits_in_stream.astype(np.int64))
        self._offsets = offsets
        self._cumulative = np.cumsum(counts)
        self._before = self._cumulative - counts  # valid starts in earlier documents

    @property
    def num_starts(self) -> int:
        """How many distinct windows the sampler can draw."""
        return int(self._cumulative[-1])

    def sample_starts(self, batch_size: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) int64 window starts, uniform over every valid start."""
        batch_size = require_positive_int("batch_size", batch_size)
        rank = torch.randint(0, self.num_starts, (batch_size,), generator=generator).numpy()
        document = np.searchsorted(self._cumulative, rank, side="right")
        return torch.from_numpy(self._offsets[document] + rank - self._before[document])

    def sample(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return int64 ``x, y`` of shape (B, T), like :func:`get_lm_batch`."""
        starts = self.sample_starts(batch_size, generator=generator)
        return window_batch(self.ids, starts, self.context_length, device)

"""The pieces every batch sampler shares: gather windows, check a document index, move a batch.

``get_lm_batch``, ``DocumentSampler`` and ``get_packed_batch`` differ only in
*which* tokens they pick; these are the parts they have in common.
"""

from __future__ import annotations

import numpy as np
import torch

from g2c.validation import is_integer_dtype


def gather_windows(ids, starts: torch.Tensor, window: int) -> torch.Tensor:
    """Rows ``ids[s : s + window]`` for every s in ``starts``, as one (B, window) copy.

    Both branches build a strided view whose row s *is* ``ids[s : s + window]``
    (consecutive rows overlap, so the view costs no memory), then gather the
    wanted rows with a single indexing op.

        ids = [10, 11, 12, 13], starts = [2, 0], window = 2  ->  [[12, 13], [10, 11]]
    """
    if isinstance(ids, torch.Tensor):
        starts = starts if ids.is_cpu else starts.to(ids.device)
        return ids.unfold(0, window, 1).index_select(0, starts)
    stride = ids.strides[0]
    view = np.lib.stride_tricks.as_strided(
        ids, shape=(ids.shape[0] - window + 1, window), strides=(stride, stride), writeable=False
    )
    return torch.from_numpy(view[starts.numpy()])


def require_window_fits(num_tokens: int, context_length: int) -> None:
    """Raise unless a stream of ``num_tokens`` holds one window of T inputs and its target."""
    if num_tokens < context_length + 1:
        raise ValueError(
            f"ids has {num_tokens} tokens but context_length={context_length} needs at least "
            f"{context_length + 1} (T inputs plus the one target after them)"
        )


def window_batch(ids, starts: torch.Tensor, context_length: int,
                 device: torch.device | str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``x, y``: the windows of T+1 tokens at ``starts``, as two int64 views one column apart.

    One gather copies exactly B·(T+1) tokens; widening to int64 happens on that
    small copy, never on the (possibly uint16, memory-mapped) stream.
    """
    windows = move_batch(gather_windows(ids, starts, context_length + 1).to(torch.int64), device)
    return windows[:, :-1], windows[:, 1:]


def needs_pinning(tensor: torch.Tensor, device: torch.device | str) -> bool:
    """True when a copy of ``tensor`` to ``device`` should go through pinned memory.

    Only a host (CPU) tensor bound for a CUDA GPU: pinned pages let the copy
    run asynchronously (``non_blocking=True``) while the GPU still computes.
    A tensor already on a GPU cannot be pinned (and needs no copy from host).
    """
    return tensor.device.type == "cpu" and torch.device(device).type == "cuda"


def move_batch(tensor: torch.Tensor, device: torch.device | str | None) -> torch.Tensor:
    """``tensor`` on ``device`` (unchanged for None); see :func:`needs_pinning`."""
    if device is None:
        return tensor
    if needs_pinning(tensor, device):
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def check_document_offsets(doc_offsets, num_tokens: int) -> np.ndarray:
    """The document index as int64, after checking it can index a stream of ``num_tokens``.

    A valid index starts at 0, increases strictly and stays below ``num_tokens``:
    ``[0, 5, 8]`` for documents at positions 0-4, 5-7 and 8-end.
    """
    offsets = np.asarray(doc_offsets.cpu() if hasattr(doc_offsets, "cpu") else doc_offsets)
    if offsets.ndim != 1 or len(offsets) == 0 or not is_integer_dtype(offsets.dtype):
        raise ValueError(
            f"doc_offsets must be a non-empty 1-D integer array of document starts; got "
            f"shape {offsets.shape} dtype {offsets.dtype}"
        )
    offsets = offsets.astype(np.int64)
    if offsets[0] != 0 or offsets[-1] >= num_tokens or np.any(np.diff(offsets) <= 0):
        raise ValueError(
            f"doc_offsets must start at 0, increase strictly and stay below len(ids)="
            f"{num_tokens}; got {offsets[:5].tolist()}{' ...' if len(offsets) > 5 else ''} "
            f"(last {offsets[-1]})"
        )
    return offsets

"""Document-aware sampling: windows stay inside a document, uniform over valid starts."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from g2c.corpora import prepare_corpus
from g2c.pretraining import DocumentSampler

EOT = 0


def build_stream(lengths):
    """Documents of the given lengths (ids 1..9) joined by EOT, and their offsets."""
    parts, offsets, position = [], [], 0
    for index, length in enumerate(lengths):
        if index:
            parts.append([EOT])
            position += 1
        offsets.append(position)
        parts.append([(index % 9) + 1] * length)
        position += length
    return np.concatenate(parts).astype(np.uint16), np.array(offsets)


def valid_starts(lengths, context_length):
    """Brute force: every start whose window stays in one document's span (or starts a short one)."""
    stream, offsets = build_stream(lengths)
    window, n = context_length + 1, len(stream)
    ends = list(offsets[1:]) + [n]
    starts = set()
    for start, end in zip(offsets, ends):
        if end - start >= window:
            starts.update(range(start, end - window + 1))
        elif start + window <= n:
            starts.add(start)
    return stream, offsets, starts


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=12), st.integers(1, 20),
       st.integers(0, 2**31))
def test_no_window_crosses_a_boundary_unless_its_document_is_too_short(lengths, context, seed):
    stream, offsets, expected = valid_starts(lengths, context)
    if not expected:
        with pytest.raises(ValueError, match="needs at least"):
            DocumentSampler(stream, offsets, context)
        return
    sampler = DocumentSampler(stream, offsets, context)
    assert sampler.num_starts == len(expected)
    starts = sampler.sample_starts(64, generator=torch.Generator().manual_seed(seed))
    x, y = sampler.sample(64, generator=torch.Generator().manual_seed(seed))
    for start, row_x, row_y in zip(starts.tolist(), x.numpy(), y.numpy()):
        assert start in expected
        window = stream[start : start + context + 1]
        assert np.array_equal(row_x, window[:-1]) and np.array_equal(row_y, window[1:])
        inner = window[:-1]  # an EOT may be the last target, but inside the window...
        if (inner == EOT).any():  # ...only when the window starts a too-short document
            document = np.searchsorted(offsets, start, side="right") - 1
            assert start == offsets[document]
            assert lengths[document] + 1 < context + 1


def test_every_valid_start_is_drawn_uniformly():
    lengths = [6, 2, 9, 1, 4]
    stream, offsets, expected = valid_starts(lengths, 4)
    starts = DocumentSampler(stream, offsets, 4).sample_starts(
        60_000, generator=torch.Generator().manual_seed(0))
    counts = np.bincount(starts.numpy(), minlength=len(stream))
    assert set(np.flatnonzero(counts)) == expected
    frequencies = counts[sorted(expected)] / len(starts)
    assert np.abs(frequencies - 1 / len(expected)).max() < 0.01


def test_same_generator_same_batch():
    stream, offsets = build_stream([50, 30, 80])
    sampler = DocumentSampler(stream, offsets, 16)
    first = sampler.sample(8, generator=torch.Generator().manual_seed(3))
    second = sampler.sample(8, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert first[0].dtype == torch.int64 and first[0].shape == (8, 16)


def test_works_on_a_prepared_memmap(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for index in range(6):
        (folder / f"{index}.txt").write_text(f"document number {index} " * (index + 3))
    prepared = prepare_corpus(folder, tmp_path / "out", tokenizer="char", progress=False)
    sampler = DocumentSampler(prepared.train, prepared.train_doc_offsets, 32)
    x, y = sampler.sample(2000, generator=torch.Generator().manual_seed(0))
    assert not (x == prepared.eot_id).any()  # every document is longer than the window
    assert (y[:, -1] == prepared.eot_id).any()  # but the end of a document is a target


@pytest.mark.parametrize("offsets, match", [
    ([], "non-empty 1-D integer"),
    ([[0, 3]], "non-empty 1-D integer"),
    ([0.0, 3.0], "non-empty 1-D integer"),
    ([1, 3], "start at 0"),
    ([0, 3, 3], "increase strictly"),
    ([0, 50], "below len"),
])
def test_bad_offsets(offsets, match):
    stream, _ = build_stream([10, 10])
    with pytest.raises(ValueError, match=match):
        DocumentSampler(stream, np.array(offsets), 4)


def test_bad_sizes():
    stream, offsets = build_stream([10, 10])
    with pytest.raises(ValueError, match="context_length"):
        DocumentSampler(stream, offsets, 0)
    with pytest.raises(ValueError, match="batch_size"):
        DocumentSampler(stream, offsets, 4).sample(0)

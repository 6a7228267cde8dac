"""Packed documents: plan properties, batch contents, and bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from g2c.pretraining import (
    PackingPlan,
    get_packed_batch,
    get_packed_rows,
    lm_cross_entropy,
    pack_documents,
)

EOT = 0


def make_stream(doc_lengths, *, trailing_eot=False, seed=0):
    """Documents of the given lengths (ids 1..9) joined by EOT; returns ids, offsets."""
    rng = np.random.default_rng(seed)
    parts, offsets, start = [], [], 0
    for i, length in enumerate(doc_lengths):
        offsets.append(start)
        parts.append(rng.integers(1, 10, size=length))
        start += length
        if i < len(doc_lengths) - 1 or trailing_eot:
            parts.append([EOT])
            start += 1
    return np.concatenate(parts).astype(np.uint16), np.asarray(offsets, dtype=np.int64)


def all_rows(ids, plan, **kwargs):
    return get_packed_rows(ids, plan, np.arange(plan.num_rows), eot_id=EOT, **kwargs)


def source_positions(plan):
    """Stream index of every real token of every row, laid out like the batch."""
    out = np.full((plan.num_rows, plan.context_length + 1), -1)
    for row in range(plan.num_rows):
        pieces = range(plan.row_offsets[row], plan.row_offsets[row + 1])
        flat = np.concatenate(
            [np.arange(plan.piece_starts[p], plan.piece_starts[p] + plan.piece_lengths[p])
             for p in pieces]
        )
        out[row, : len(flat)] = flat
    return out


@st.composite
def corpora(draw):
    lengths = draw(st.lists(st.integers(0, 40), min_size=1, max_size=12))
    context = draw(st.integers(1, 24))
    trailing = draw(st.booleans())
    if lengths[-1] == 0 and not trailing:
        lengths[-1] = 1  # an empty last document needs its separator after it
    ids, offsets = make_stream(lengths, trailing_eot=trailing, seed=draw(st.integers(0, 99)))
    if len(ids) < 2:
        ids, offsets = make_stream([2])
    return ids, offsets, context


@settings(max_examples=120, deadline=None)
@given(corpora())
def test_every_pair_of_the_stream_is_trained_exactly_once(corpus):
    ids, offsets, context = corpus
    plan = pack_documents(offsets, len(ids), context)
    batch = all_rows(ids, plan)
    where = source_positions(plan)
    trained = batch.y.numpy() != -100
    src_x, src_y = where[:, :-1][trained], where[:, 1:][trained]
    # Each target is the stream's next token after its input, and every stream
    # position 1 … n-1 is a target exactly once: packing drops and repeats nothing.
    assert np.array_equal(src_y, src_x + 1)
    assert np.array_equal(np.sort(src_y), np.arange(1, len(ids)))
    assert np.array_equal(batch.y.numpy()[trained], ids[src_y])
    real_x = where[:, :-1] >= 0
    assert np.array_equal(batch.x.numpy()[real_x], ids[where[:, :-1][real_x]])


@settings(max_examples=120, deadline=None)
@given(corpora())
def test_rows_fit_the_context_and_split_documents_are_counted(corpus):
    ids, offsets, context = corpus
    plan = pack_documents(offsets, len(ids), context)
    row_tokens = np.add.reduceat(plan.piece_lengths, plan.row_offsets[:-1])
    assert (row_tokens <= context + 1).all() and (plan.piece_lengths >= 2).all()
    # A document spans from the separator before it to the one after it
    # (or the stream's ends); it is split when that is more than T pairs.
    bounds = np.unique(np.concatenate([[0], offsets[1:] - 1, [len(ids) - 1]]))
    assert plan.num_split_documents == int((np.diff(bounds) > context).sum())
    assert plan.num_documents == len(offsets)
    padding = (source_positions(plan) < 0).sum()
    assert plan.padding_fraction == pytest.approx(padding / (plan.num_rows * (context + 1)))
    assert plan.summary()["split_documents"] == plan.num_split_documents


@settings(max_examples=80, deadline=None)
@given(corpora(), st.booleans())
def test_document_and_position_ids_follow_the_pieces(corpus, restart):
    ids, offsets, context = corpus
    plan = pack_documents(offsets, len(ids), context)
    batch = all_rows(ids, plan, restart_positions=restart)
    docs, pos = batch.document_ids.numpy(), batch.position_ids.numpy()
    real = source_positions(plan)[:, :-1] >= 0
    assert (np.diff(docs, axis=1) >= 0).all()
    new_doc = np.concatenate([np.ones((len(docs), 1), bool), np.diff(docs, axis=1) > 0], axis=1)
    if restart:
        # Positions restart at 0 exactly where a new piece begins, then count up.
        assert np.array_equal((pos == 0)[real], new_doc[real])
        step = np.diff(pos, axis=1)[(~new_doc[:, 1:]) & real[:, 1:]]
        assert (step == 1).all()
    else:
        assert (pos == np.arange(context)).all()
    # A target is kept only inside one document.
    kept = batch.y.numpy() != -100
    assert not (kept[:, :-1] & new_doc[:, 1:]).any()


def test_short_documents_share_rows_and_the_example_from_the_docstring():
    ids = np.array([1, 2, 3, EOT, 4, 5, EOT, 6, 7, 8, 9, 10, 11], dtype=np.int64)
    plan = pack_documents(np.array([0, 4, 7]), len(ids), 4)
    assert plan.num_split_documents == 1  # E f g h i j k is 6 pairs > T = 4
    pieces = sorted(
        ids[s : s + n].tolist() for s, n in zip(plan.piece_starts, plan.piece_lengths)
    )
    assert pieces == sorted([[1, 2, 3, 0], [0, 4, 5, 0], [0, 6, 7, 8, 9], [9, 10, 11]])
    # [a b E] [E c E] [E d e]: three pieces of 3 tokens fill one row of 9.
    ids, offsets = make_stream([2, 1, 2])
    plan = pack_documents(offsets, len(ids), 8)
    assert plan.num_rows == 1 and plan.padding_fraction == pytest.approx(0.0)
    batch = all_rows(ids, plan)
    assert batch.document_ids.tolist() == [[0, 0, 0, 1, 1, 1, 2, 2]]


def test_a_document_that_just_fits_is_not_split():
    for length, split in ((7, 0), (8, 1)):  # T = 8: E + 7 tokens + E is 9 = T+1 tokens
        ids, offsets = make_stream([3, length, 3])
        assert pack_documents(offsets, len(ids), 8).num_split_documents == split


def test_eot_loss_switch():
    ids, offsets = make_stream([5, 3, 7], trailing_eot=True)
    with_eot = all_rows(ids, pack_documents(offsets, len(ids), 16))
    assert (with_eot.y == EOT).sum() == 3
    without = all_rows(ids, pack_documents(offsets, len(ids), 16), eot_loss=False)
    assert not (without.y == EOT).any()
    assert ((without.y != -100).sum() == (with_eot.y != -100).sum() - 3)


def test_padding_targets_drop_out_of_lm_cross_entropy():
    ids, offsets = make_stream([3, 2])
    plan = pack_documents(offsets, len(ids), 12)
    batch = all_rows(ids, plan)
    assert (batch.y == -100).any()
    logits = torch.randn(*batch.y.shape, 10, requires_grad=True)
    loss = lm_cross_entropy(logits, batch.y)
    kept = batch.y != -100
    expected = torch.nn.functional.cross_entropy(logits[kept], batch.y[kept])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert (logits.grad[~kept] == 0).all()


def test_batches_are_reproducible_and_work_on_torch_streams_and_memmaps(tmp_path):
    ids, offsets = make_stream([30, 4, 9, 50, 2, 11])
    plan = pack_documents(offsets, len(ids), 8)
    path = tmp_path / "train.bin"
    ids.tofile(path)
    stream = np.memmap(path, dtype=np.uint16, mode="r")
    batches = [
        get_packed_batch(source, plan, 5, generator=torch.Generator().manual_seed(3), eot_id=EOT)
        for source in (ids, stream, torch.from_numpy(ids.astype(np.int64)))
    ]
    for other in batches[1:]:
        for a, b in zip(batches[0], other):
            assert torch.equal(a, b) and a.dtype == torch.int64 and a.shape == (5, 8)
    again = get_packed_batch(ids, plan, 5, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(batches[0], again))


def test_bad_document_offsets_raise():
    ids, offsets = make_stream([3, 4, 5])
    for bad in (offsets + 1, np.array([0, 4, 4, 9]), np.array([0, 4, len(ids)]),
                offsets.reshape(1, -1), offsets.astype(float), offsets[:0]):
        with pytest.raises(ValueError, match="doc_offsets"):
            pack_documents(bad, len(ids), 4)
    with pytest.raises(ValueError, match="context_length"):
        pack_documents(offsets, len(ids), 0)
    with pytest.raises(ValueError, match="num_tokens"):
        pack_documents(np.array([0]), 1, 4)


def test_offsets_that_do_not_match_the_stream_raise():
    ids, offsets = make_stream([3, 4, 5])
    other, other_offsets = make_stream([3, 5, 5])
    with pytest.raises(ValueError, match="num_tokens"):
        get_packed_batch(other, pack_documents(offsets, len(ids), 4), 2)
    # Same length, shifted boundary: the separator is not where the index says.
    shifted = np.array([0, 5, 8])
    plan = pack_documents(shifted, len(ids), 16)
    with pytest.raises(ValueError, match="do not match"):
        get_packed_rows(ids, plan, [0], eot_id=EOT)


def test_bad_batch_arguments_raise():
    ids, offsets = make_stream([3, 4, 5])
    plan = pack_documents(offsets, len(ids), 4)
    with pytest.raises(ValueError, match="batch_size"):
        get_packed_batch(ids, plan, 0)
    with pytest.raises(TypeError, match="plan"):
        get_packed_batch(ids, "plan", 2)
    with pytest.raises(ValueError, match="eot_id"):
        get_packed_batch(ids, plan, 2, eot_loss=False)
    with pytest.raises(ValueError, match="rows"):
        get_packed_rows(ids, plan, [plan.num_rows])
    with pytest.raises(TypeError, match="ids"):
        get_packed_batch(ids.tolist(), plan, 2)
    assert isinstance(plan, PackingPlan)

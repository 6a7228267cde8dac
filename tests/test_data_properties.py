"""Property tests for the data path: any stream, any valid sizes."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from g2c.pretraining import get_lm_batch, lm_cross_entropy, split_token_stream

INT_DTYPES = [np.uint8, np.uint16, np.uint32, np.int32, np.int64]


@st.composite
def stream_and_sizes(draw):
    n = draw(st.integers(min_value=2, max_value=400))
    dtype = draw(st.sampled_from(INT_DTYPES))
    high = min(np.iinfo(dtype).max, 60_000)
    values = draw(st.lists(st.integers(0, high), min_size=n, max_size=n))
    context = draw(st.integers(1, n - 1))
    batch = draw(st.integers(1, 9))
    as_torch = draw(st.booleans()) and dtype not in (np.uint16, np.uint32)
    ids = np.asarray(values, dtype=dtype)
    return (torch.from_numpy(ids) if as_torch else ids), batch, context, draw(st.integers(0, 2**31))


@settings(max_examples=150, deadline=None)
@given(stream_and_sizes())
def test_every_row_is_a_real_window_and_its_shift(args):
    ids, batch, context, seed = args
    stream = np.asarray(ids, dtype=np.int64)
    x, y = get_lm_batch(ids, batch, context, generator=torch.Generator().manual_seed(seed))
    assert x.shape == y.shape == (batch, context)
    assert x.dtype == y.dtype == torch.int64
    windows = np.lib.stride_tricks.sliding_window_view(stream, context + 1)
    for row_x, row_y in zip(x.numpy(), y.numpy()):
        row = np.concatenate([row_x, row_y[-1:]])
        assert np.array_equal(row_x[1:], row_y[:-1])
        assert (windows == row).all(axis=1).any()


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 10_000), st.floats(0.01, 0.99))
def test_split_partitions_the_stream_in_order(n, fraction):
    ids = np.arange(n, dtype=np.uint32)
    cut = int(n * fraction)
    if cut in (0, n):
        with pytest.raises(ValueError, match="empty"):
            split_token_stream(ids, fraction)
        return
    train, val = split_token_stream(ids, fraction)
    assert np.array_equal(np.concatenate([train, val]), ids)
    assert np.shares_memory(train, ids) and np.shares_memory(val, ids)


def test_split_rounds_the_cut_down():
    # 10 tokens at 0.87: the cut is int(8.7) = 8, never round(8.7) = 9.
    train, val = split_token_stream(np.arange(10), 0.87)
    assert len(train) == 8 and val.tolist() == [8, 9]


def test_memmap_streams_are_sampled_without_loading(tmp_path):
    path = tmp_path / "train.bin"
    np.arange(50_000, dtype=np.uint16).tofile(path)
    ids = np.memmap(path, dtype=np.uint16, mode="r")
    x, y = get_lm_batch(ids, 4, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, x + 1)
    assert int(x.max()) < 50_000


def test_starts_are_uniform_over_every_valid_start():
    ids = torch.arange(8)  # T = 4: starts 0..3
    g = torch.Generator().manual_seed(0)
    x, _ = get_lm_batch(ids, 40_000, 4, generator=g)
    counts = torch.bincount(x[:, 0], minlength=4).float()
    assert counts.shape == (4,)
    assert torch.all((counts / counts.sum() - 0.25).abs() < 0.01)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (dict(ids=np.zeros(10, dtype=np.float32)), ValueError, "integer"),
        (dict(ids=[1, 2, 3, 4]), TypeError, "1-D torch.Tensor or numpy"),
        (dict(ids=np.zeros((2, 5), dtype=np.int64)), ValueError, "1-D"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(context_length=-3), ValueError, "context_length"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
    ],
)
def test_get_lm_batch_rejects_bad_arguments(bad, error, match):
    args = dict(ids=np.arange(100, dtype=np.int64), batch_size=2, context_length=8)
    args.update(bad)
    with pytest.raises(error, match=match):
        get_lm_batch(args.pop("ids"), **args)


def test_lm_cross_entropy_names_both_shapes_on_mismatch():
    with pytest.raises(ValueError, match=r"\(2, 3, 5\).*\(2, 4\)"):
        lm_cross_entropy(torch.randn(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(6, 5\)"):
        lm_cross_entropy(torch.randn(6, 5), torch.zeros(6, dtype=torch.long))

"""g2c.pretraining.linear_cross_entropy against the materialised head + loss."""

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from g2c.pretraining import linear_cross_entropy, lm_cross_entropy

# The package re-exports the function under the module's name; fetch the module.
lce_module = importlib.import_module("g2c.nn.linear_cross_entropy")

TOL = {"atol": 1e-5, "rtol": 1e-5}


def make_case(rows, dim, vocab, *, seed=0, ignore_every=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, dim, generator=generator)
    weight = torch.randn(vocab, dim, generator=generator) * 0.5
    bias = torch.randn(vocab, generator=generator)
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    if ignore_every:
        targets[::ignore_every] = -100
    return hidden.to(dtype), weight.to(dtype), bias.to(dtype), targets


def reference(hidden, weight, bias, targets, *, reduction="mean", z_loss=0.0,
              ignore_index=-100):
    """The materialised definition: PyTorch cross-entropy plus z_loss · lse²."""
    logits = F.linear(hidden, weight, bias)
    per_row = F.cross_entropy(logits, targets, reduction="none", ignore_index=ignore_index)
    valid = targets != ignore_index
    per_row = per_row + z_loss * torch.logsumexp(logits, dim=-1).square() * valid
    if reduction == "none":
        return per_row
    total = per_row.sum()
    return total if reduction == "sum" else total / valid.sum().clamp(min=1)


def value_and_grads(loss_fn, hidden, weight, bias, targets, upstream_seed=1, **kwargs):
    """Loss and the gradients of (loss * random upstream).sum() wrt the three inputs."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (hidden, weight, bias)]
    loss = loss_fn(leaves[0], leaves[1], targets, bias=leaves[2], **kwargs)
    upstream = torch.randn(loss.shape, generator=torch.Generator().manual_seed(upstream_seed))
    (loss * upstream).sum().backward()
    return loss.detach(), [leaf.grad for leaf in leaves]


def reference_fn(hidden, weight, targets, *, bias=None, chunk_size=None, **kwargs):
    return reference(hidden, weight, bias, targets, **kwargs)


def assert_matches_reference(hidden, weight, bias, targets, **kwargs):
    ours, our_grads = value_and_grads(linear_cross_entropy, hidden, weight, bias, targets, **kwargs)
    ref, ref_grads = value_and_grads(reference_fn, hidden, weight, bias, targets, **kwargs)
    torch.testing.assert_close(ours, ref, **TOL)
    for name, got, expected in zip(("hidden", "weight", "bias"), our_grads, ref_grads):
        torch.testing.assert_close(got, expected, **TOL, msg=lambda m, n=name: f"grad {n}: {m}")


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any operation produces while active."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        sizes = [t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        self.largest = max([self.largest, *sizes])
        return out


@pytest.mark.parametrize("chunk_size", [None, 4, 64])
@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_materialised_loss_and_all_gradients(reduction, z_loss, chunk_size):
    hidden, weight, bias, targets = make_case(23, 12, 37, seed=3, ignore_every=5)
    assert_matches_reference(hidden, weight, bias, targets, reduction=reduction,
                             z_loss=z_loss, chunk_size=chunk_size)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 40), dim=st.integers(1, 9), vocab=st.integers(2, 50),
    chunk_size=st.integers(1, 45), reduction=st.sampled_from(["mean", "sum", "none"]),
    z_loss=st.sampled_from([0.0, 1e-3]), seed=st.integers(0, 2**16),
)
def test_any_chunking_matches_the_reference(rows, dim, vocab, chunk_size, reduction, z_loss, seed):
    hidden, weight, bias, targets = make_case(rows, dim, vocab, seed=seed, ignore_every=3)
    assert_matches_reference(hidden, weight, bias, targets, reduction=reduction,
                             z_loss=z_loss, chunk_size=chunk_size)


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_batched_hidden_equals_lm_cross_entropy_on_the_logits(chunk_size):
    hidden, weight, bias, targets = make_case(24, 8, 30, seed=4)
    hidden, targets = hidden.view(3, 8, 8), targets.view(3, 8)

    def lm_loss(h, w, t, *, bias):
        return lm_cross_entropy(h @ w.T + bias, t)

    ours, our_grads = value_and_grads(linear_cross_entropy, hidden, weight, bias, targets,
                                      chunk_size=chunk_size)
    ref, ref_grads = value_and_grads(lm_loss, hidden, weight, bias, targets)
    torch.testing.assert_close(ours, ref, **TOL)
    for got, expected in zip(our_grads, ref_grads):
        torch.testing.assert_close(got, expected, **TOL)
    assert our_grads[0].shape == (3, 8, 8)


def test_reduction_none_keeps_the_batch_shape():
    hidden, weight, bias, targets = make_case(12, 4, 9)
    losses = linear_cross_entropy(hidden.view(3, 4, 4), weight, targets.view(3, 4),
                                  bias=bias, reduction="none", chunk_size=5)
    assert losses.shape == (3, 4)
    torch.testing.assert_close(losses.flatten(), reference(hidden, weight, bias, targets,
                                                           reduction="none"), **TOL)


def test_without_bias_and_with_a_frozen_head():
    hidden, weight, _, targets = make_case(10, 6, 20, seed=5)
    leaf = hidden.clone().requires_grad_(True)
    linear_cross_entropy(leaf, weight, targets, chunk_size=3).backward()
    expected = hidden.clone().requires_grad_(True)
    reference(expected, weight, None, targets).backward()
    torch.testing.assert_close(leaf.grad, expected.grad, **TOL)
    assert not weight.requires_grad and weight.grad is None


def test_custom_ignore_index_inside_the_vocabulary():
    hidden, weight, bias, targets = make_case(15, 5, 8, seed=6)
    assert (targets == 2).any()
    assert_matches_reference(hidden, weight, bias, targets, ignore_index=2, chunk_size=4)


def test_all_positions_ignored_gives_zero_loss_and_zero_gradients():
    hidden, weight, bias, _ = make_case(6, 4, 7)
    leaves = [t.clone().requires_grad_(True) for t in (hidden, weight, bias)]
    loss = linear_cross_entropy(leaves[0], leaves[1], torch.full((6,), -100),
                                bias=leaves[2], chunk_size=4)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert all(torch.all(leaf.grad == 0) for leaf in leaves)


def test_stable_for_huge_logits():
    hidden, weight, bias, targets = make_case(9, 4, 11, seed=7)
    ours = linear_cross_entropy(hidden * 300, weight, targets, bias=bias, chunk_size=4, z_loss=1e-4)
    ref = reference(hidden * 300, weight, bias, targets, z_loss=1e-4)
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=1e-5)


def test_no_grad_gives_the_same_loss_without_a_graph():
    hidden, weight, bias, targets = make_case(10, 4, 13)
    leaf = hidden.clone().requires_grad_(True)
    with torch.no_grad():
        loss = linear_cross_entropy(leaf, weight, targets, bias=bias, chunk_size=3)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, reference(hidden, weight, bias, targets), **TOL)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_chunked_path_never_holds_an_n_by_v_tensor(reduction):
    rows, dim, vocab, chunk = 64, 8, 50, 8  # N·V = 3200; chunk·V, V·d, N·d are all ≤ 512
    hidden, weight, bias, targets = make_case(rows, dim, vocab)
    leaves = [t.clone().requires_grad_(True) for t in (hidden, weight, bias)]
    with LargestTensor() as chunked:
        linear_cross_entropy(leaves[0], leaves[1], targets, bias=leaves[2],
                             reduction=reduction, z_loss=1e-3,
                             chunk_size=chunk).sum().backward()
    with LargestTensor() as materialised:  # the detector does see (N, V) tensors
        reference(*leaves, targets, reduction=reduction).sum().backward()
    assert chunked.largest <= max(chunk * vocab, vocab * dim, rows * dim) < rows * vocab
    assert materialised.largest >= rows * vocab


def test_small_inputs_take_the_plain_path_and_large_ones_chunk(monkeypatch):
    hidden, weight, bias, targets = make_case(64, 8, 50)
    with LargestTensor() as small:
        linear_cross_entropy(hidden, weight, targets, bias=bias)
    assert small.largest >= 64 * 50  # N·V ≤ PLAIN_PATH_MAX_LOGITS: logits materialised
    monkeypatch.setattr(lce_module, "PLAIN_PATH_MAX_LOGITS", 64 * 50 - 1)
    monkeypatch.setattr(lce_module, "_CHUNK_BYTES", 4 * 50 * 16)  # 16 rows per chunk
    with LargestTensor() as large:
        loss = linear_cross_entropy(hidden, weight, targets, bias=bias)
    assert large.largest < 64 * 50
    torch.testing.assert_close(loss, reference(hidden, weight, bias, targets), **TOL)


def test_bf16_accumulates_in_fp32():
    # 512 chunks summed into grad_weight and grad_bias: a bf16 running sum
    # (8 significant bits) would stop growing long before the end.
    hidden, weight, bias, targets = make_case(1024, 4, 8, seed=8, dtype=torch.bfloat16)
    kwargs = {"reduction": "sum"}
    exact, exact_grads = value_and_grads(
        reference_fn, hidden.double(), weight.double(), bias.double(), targets, **kwargs)
    ours, our_grads = value_and_grads(linear_cross_entropy, hidden, weight, bias, targets,
                                      chunk_size=2, **kwargs)
    plain, plain_grads = value_and_grads(reference_fn, hidden, weight, bias, targets, **kwargs)
    assert ours.dtype == torch.float32
    assert [g.dtype for g in our_grads] == [torch.bfloat16] * 3
    assert abs(float(ours) - float(exact)) <= 2 * abs(float(plain) - float(exact)) + 1e-2
    for got, single, truth in zip(our_grads, plain_grads, exact_grads):
        our_error = (got.double() - truth).abs().max()
        plain_error = (single.double() - truth).abs().max()
        assert our_error <= 2 * plain_error + 1e-6


def test_fp16_gradients_under_a_loss_scale_match_the_materialised_loss():
    # fp16 training multiplies the loss by a scale (GradScaler starts at 65,536) so small
    # gradients survive fp16. Here every output row shares one direction, so a row's
    # grad_hidden, sum_v p_v W_v - W_target, is a small difference of two large terms,
    # and the p_v / N entries (~1e-6, fp16's subnormal range) must not be rounded or
    # flushed before the scale lifts them: formed at 1/N in fp16 they were off by ~10%.
    rows, dim, vocab, scale = 1024, 16, 1024, 65536.0
    generator = torch.Generator().manual_seed(11)
    hidden = torch.randn(rows, dim, generator=generator).half()
    weight = (1.0 + 0.01 * torch.randn(vocab, dim, generator=generator)).half()
    bias = torch.zeros(vocab, dtype=torch.half)
    targets = torch.randint(0, vocab, (rows,), generator=generator)

    def scaled_grads(loss_fn):
        leaves = [t.clone().requires_grad_(True) for t in (hidden, weight, bias)]
        (loss_fn(*leaves) * scale).backward()
        return [leaf.grad.float() / scale for leaf in leaves]

    ours = scaled_grads(lambda h, w, b: linear_cross_entropy(h, w, targets, bias=b,
                                                             chunk_size=256))
    materialised = scaled_grads(lambda h, w, b: F.cross_entropy(F.linear(h, w, b).float(),
                                                                targets))
    for name, got, expected in zip(("hidden", "weight", "bias"), ours, materialised):
        relative_error = float((got - expected).norm() / expected.norm())
        assert relative_error < 1e-2, f"grad {name}: relative error {relative_error:.3g}"


def test_one_backward_per_forward_for_scalar_losses():
    hidden, weight, bias, targets = make_case(6, 4, 7)
    leaf = hidden.clone().requires_grad_(True)
    loss = linear_cross_entropy(leaf, weight, targets, bias=bias, chunk_size=4)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward per forward"):
        loss.backward()


def test_reduction_none_can_backward_twice():
    hidden, weight, bias, targets = make_case(6, 4, 7)
    leaf = hidden.clone().requires_grad_(True)
    losses = linear_cross_entropy(leaf, weight, targets, bias=bias, reduction="none", chunk_size=4)
    losses.sum().backward(retain_graph=True)
    first = leaf.grad.clone()
    losses.sum().backward()
    torch.testing.assert_close(leaf.grad, 2 * first)


@pytest.mark.parametrize(
    "hidden_shape, weight_shape, bias_shape, targets_shape",
    [
        ((6, 4), (7, 5), (7,), (6,)),      # d differs
        ((6, 4), (7, 4), (8,), (6,)),      # bias is not (V,)
        ((6, 4), (7, 4), (7,), (5,)),      # one target per row missing
        ((2, 3, 4), (7, 4), (7,), (6,)),   # (B, T, d) needs (B, T) targets
        ((4,), (7, 4), (7,), ()),          # hidden must be 2-D or 3-D
        ((6, 4), (7, 4, 1), (7,), (6,)),   # weight must be 2-D
    ],
)
def test_mismatched_shapes_name_every_shape(hidden_shape, weight_shape, bias_shape, targets_shape):
    with pytest.raises(ValueError) as error:
        linear_cross_entropy(torch.randn(hidden_shape), torch.randn(weight_shape),
                             torch.zeros(targets_shape, dtype=torch.long),
                             bias=torch.randn(bias_shape))
    message = str(error.value)
    for shape in (hidden_shape, weight_shape, bias_shape, targets_shape):
        assert str(tuple(shape)) in message


@pytest.mark.parametrize("bad_target", [7, 100, -1])
def test_targets_out_of_range_are_refused(bad_target):
    hidden, weight, bias, targets = make_case(6, 4, 7)
    targets[2] = bad_target
    with pytest.raises(ValueError, match=rf"\[0, 7\).*got {bad_target}"):
        linear_cross_entropy(hidden, weight, targets, bias=bias, chunk_size=2)


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"chunk_size": 0}, ValueError, "chunk_size must be a positive int; got 0"),
        ({"chunk_size": -3}, ValueError, "chunk_size must be a positive int; got -3"),
        ({"chunk_size": 2.5}, TypeError, "chunk_size"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"z_loss": "0.1"}, ValueError, "z_loss"),
        ({"z_loss": -1e-4}, ValueError, "z_loss"),
        ({"z_loss": float("inf")}, ValueError, "z_loss"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index"),
    ],
)
def test_bad_options_are_refused(kwargs, error, pattern):
    hidden, weight, bias, targets = make_case(6, 4, 7)
    with pytest.raises(error, match=pattern):
        linear_cross_entropy(hidden, weight, targets, bias=bias, **kwargs)


def test_bad_dtypes_are_refused():
    hidden, weight, bias, targets = make_case(6, 4, 7)
    with pytest.raises(TypeError, match="targets"):
        linear_cross_entropy(hidden, weight, targets.float(), bias=bias)
    with pytest.raises(TypeError, match="share one dtype"):
        linear_cross_entropy(hidden, weight.bfloat16(), targets, bias=bias)
    with pytest.raises(TypeError, match="hidden"):
        linear_cross_entropy(hidden.long(), weight, targets)


def test_under_autocast_matches_the_autocast_materialised_path():
    # As in a model under autocast: bf16 hidden states from the blocks, fp32 parameters.
    hidden, weight, bias, targets = make_case(40, 8, 30, seed=9)
    hidden = hidden.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours, our_grads = value_and_grads(linear_cross_entropy, hidden, weight, bias, targets,
                                          chunk_size=7)
        ref, ref_grads = value_and_grads(reference_fn, hidden, weight, bias, targets)
    assert ours.dtype == torch.float32
    assert [g.dtype for g in our_grads] == [torch.bfloat16, torch.float32, torch.float32]
    torch.testing.assert_close(ours, ref.float(), atol=1e-2, rtol=1e-2)
    for got, expected in zip(our_grads, ref_grads):
        torch.testing.assert_close(got, expected, atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("z_loss", [0.0, 0.05])
def test_gradcheck_in_float64(z_loss):
    # reduction="none" recomputes in backward, so gradcheck may call it many times.
    hidden, weight, bias, targets = make_case(7, 3, 5, seed=10, dtype=torch.float64)
    targets[1] = -100

    def loss(h, w, b):
        return linear_cross_entropy(h, w, targets, bias=b, reduction="none", chunk_size=3,
                                    z_loss=z_loss)

    inputs = [t.requires_grad_(True) for t in (hidden, weight, bias)]
    assert torch.autograd.gradcheck(loss, inputs)

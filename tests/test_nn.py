"""g2c.nn.CrossEntropyLoss against torch.nn.functional.cross_entropy."""

import pytest
import torch
from torch.nn import functional as F

from g2c.nn import CrossEntropyLoss, cross_entropy


def _compare(logits, targets, **kwargs):
    ours_in = logits.clone().requires_grad_(True)
    ref_in = logits.clone().requires_grad_(True)
    ours = cross_entropy(ours_in, targets, **kwargs)
    ref = F.cross_entropy(ref_in, targets, **kwargs)
    weights = torch.randn_like(ours)  # a non-trivial upstream gradient
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    return ours, ref, ours_in.grad, ref_in.grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("vocab", [2, 65, 1000])
def test_matches_pytorch_value_and_gradient(reduction, vocab):
    torch.manual_seed(vocab)
    logits = torch.randn(37, vocab, dtype=torch.float64).float() * 3
    targets = torch.randint(0, vocab, (37,))
    ours, ref, g_ours, g_ref = _compare(logits, targets, reduction=reduction)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ignore_index_rows_have_no_loss_no_gradient_and_leave_the_mean(reduction):
    torch.manual_seed(0)
    logits = torch.randn(20, 11)
    targets = torch.randint(0, 11, (20,))
    targets[::3] = -100
    ours, ref, g_ours, g_ref = _compare(logits, targets, reduction=reduction)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-5, rtol=1e-5)
    assert torch.all(g_ours[::3] == 0)


def test_custom_ignore_index():
    logits = torch.randn(6, 4)
    targets = torch.tensor([0, 1, 9, 2, 9, 3])
    loss = CrossEntropyLoss(ignore_index=9)(logits, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, ignore_index=9))


def test_all_rows_ignored_gives_zero_not_nan():
    logits = torch.randn(3, 4, requires_grad=True)
    loss = cross_entropy(logits, torch.full((3,), -100))
    loss.backward()
    assert float(loss) == 0.0 and torch.all(logits.grad == 0)


def test_stable_for_huge_logits():
    torch.manual_seed(1)
    logits = torch.randn(16, 30) * 1000
    targets = torch.randint(0, 30, (16,))
    ours, ref, g_ours, g_ref = _compare(logits, targets)
    assert torch.isfinite(ours) and torch.isfinite(g_ours).all()
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_computed_in_fp32(dtype):
    torch.manual_seed(2)
    logits = torch.randn(64, 300).to(dtype).requires_grad_(True)
    targets = torch.randint(0, 300, (64,))
    loss = cross_entropy(logits, targets)
    assert loss.dtype == torch.float32
    reference = F.cross_entropy(logits.detach().float(), targets)
    torch.testing.assert_close(loss, reference, atol=1e-5, rtol=1e-5)
    loss.backward()
    assert logits.grad.dtype == dtype


def test_caller_logits_are_not_modified():
    logits = torch.randn(8, 5, requires_grad=True)
    before = logits.detach().clone()
    cross_entropy(logits, torch.randint(0, 5, (8,))).backward()
    assert torch.equal(logits.detach(), before)


def test_out_of_vocabulary_target_raises():
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        cross_entropy(torch.randn(3, 5), torch.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match="got -2"):
        cross_entropy(torch.randn(3, 5), torch.tensor([0, -2, 1]))


def test_bad_shapes_and_dtypes_raise_with_the_argument_name():
    with pytest.raises(ValueError, match="logits must be 2-D"):
        cross_entropy(torch.randn(2, 3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must be 1-D"):
        cross_entropy(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="targets must hold integer"):
        cross_entropy(torch.randn(4, 3), torch.zeros(4))
    with pytest.raises(TypeError, match="logits must be a floating-point"):
        cross_entropy(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="reduction"):
        CrossEntropyLoss(reduction="avg")


def test_second_backward_is_refused_not_wrong():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = cross_entropy(logits, torch.tensor([0, 1, 2, 0]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward"):
        loss.backward()

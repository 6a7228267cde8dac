"""Cross-entropy for classification: the Module-03 loss that 09B reuses.

Shape contract: ``logits`` is (N, V) — N independent classification
examples, V classes (the vocabulary) — and ``targets`` is (N,) integer class
ids. The loss of row n is

    loss[n] = logsumexp(logits[n]) - logits[n, targets[n]]

and its gradient with respect to the logits is ``softmax(logits[n]) -
one_hot(targets[n])``. That gradient is why this is a custom autograd
function: the forward pass already computes the softmax, so the backward pass
only has to subtract 1 at the target and scale — in the same buffer. PyTorch's
generic path keeps log-probabilities, then builds a one-hot gradient and a
fresh softmax in backward; reusing one buffer saves both time and memory at
large V (see ``benchmarks/bench_loss.py``).

Tiny worked example, V = 2:
    logits = [[0, 0]], target = [1]  ->  loss = log(e^0 + e^0) - 0 = log 2
"""

from __future__ import annotations

import torch

from g2c.validation import require_choice, require_integer_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_inputs(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int,
                  check_targets: bool) -> bool:
    """Raise on malformed input; return True when no row is known to be ignored (unknown with
    ``check_targets=False``, which skips the range check's read back to the host)."""
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
        raise TypeError(
            f"logits must be a floating-point torch.Tensor of shape (N, V); got "
            f"{type(logits).__name__} with dtype {getattr(logits, 'dtype', None)}"
        )
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, V); got shape {tuple(logits.shape)}")
    require_integer_tensor("targets", targets)
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ValueError(
            f"targets must be 1-D with one class id per logits row: logits shape "
            f"{tuple(logits.shape)} needs targets shape ({logits.shape[0]},); got "
            f"{tuple(targets.shape)}"
        )
    vocab_size = logits.shape[1]
    if not check_targets:
        return False
    if targets.numel() == 0:
        return True
    low, high = torch.aminmax(targets)
    if 0 <= int(low) and int(high) < vocab_size:
        return True  # the common case, settled by one reduction
    # A target outside [0, V) would silently index garbage; refuse it instead.
    valid = targets != ignore_index
    bad = valid & ((targets < 0) | (targets >= vocab_size))
    if bool(bad.any()):
        raise ValueError(
            f"targets must be class ids in [0, {vocab_size}) (or ignore_index="
            f"{ignore_index}); got {int(targets[bad][0])}"
        )
    return False


class _CrossEntropyFunction(torch.autograd.Function):
    """Forward keeps softmax(logits) in one fp32 buffer; backward edits it in place."""

    @staticmethod
    def forward(ctx, logits, targets, ignore_index, reduction, all_valid):
        # Half-precision logits lose too much in exp/sum: work in fp32.
        # log_softmax is one fused, max-subtracted (so overflow-free) pass that
        # writes a fresh buffer; the caller's logits are never modified.
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        if all_valid:
            valid, safe_targets = None, targets
        else:
            valid = targets != ignore_index
            safe_targets = torch.where(valid, targets, torch.zeros_like(targets))
        losses = -log_probs.gather(1, safe_targets.unsqueeze(1)).squeeze(1)
        if valid is not None:
            losses = losses * valid
        # The gradient needs probabilities: exponentiate the same buffer in
        # place, so forward and backward share one (N, V) tensor.
        probs = log_probs.exp_()
        ctx.save_for_backward(probs, safe_targets, valid)
        ctx.logits_dtype = logits.dtype
        ctx.reduction = reduction
        ctx.backward_done = False
        # The mean's denominator counts only non-ignored rows (at least 1, so
        # an all-ignored batch gives loss 0 rather than 0/0).
        if reduction != "mean":
            ctx.count = 1
        else:
            # A tensor, not a Python int: reading it would wait for the device.
            ctx.count = len(targets) if valid is None else valid.sum().clamp(min=1)
        if reduction == "none":
            return losses
        return losses.sum() / ctx.count

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.backward_done:
            raise RuntimeError(
                "g2c cross_entropy reuses its softmax buffer for the gradient, so it "
                "supports one backward pass per forward (retain_graph is not supported)"
            )
        ctx.backward_done = True
        probs, safe_targets, valid = ctx.saved_tensors  # valid is None: no row ignored
        # d loss[n] / d logits[n] = softmax - one_hot(target), written into the
        # softmax buffer itself: no second (N, V) tensor is ever allocated.
        grad = probs
        rows = torch.arange(grad.shape[0], device=grad.device)
        grad[rows, safe_targets] -= 1.0
        scale = grad_output.float() / ctx.count  # scalar for mean/sum, (N,) for none
        if ctx.reduction == "none":
            scale = scale.unsqueeze(1)
        if valid is not None:
            scale = scale * valid.unsqueeze(1)
        grad.mul_(scale)
        return grad.to(ctx.logits_dtype), None, None, None, None


def cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    check_targets: bool = True,
) -> torch.Tensor:
    """Functional form of :class:`CrossEntropyLoss` (same arguments; ``check_targets=False``
    skips the target range check, which reads the targets back to the host)."""
    require_choice("reduction", reduction, _REDUCTIONS)
    all_valid = _check_inputs(logits, targets, ignore_index, check_targets)
    return _CrossEntropyFunction.apply(logits, targets, ignore_index, reduction, all_valid)


class CrossEntropyLoss(torch.nn.Module):
    """Mean negative log-probability of the correct class.

    Args:
        ignore_index: target value whose rows contribute neither loss nor
            gradient, and are left out of the mean's denominator (-100, as in
            PyTorch, so padded positions can be masked).
        reduction: ``"mean"`` (default) over non-ignored rows, ``"sum"``, or
            ``"none"`` for the (N,) per-row losses.

    Call it as ``loss_fn(logits, targets)`` with ``logits`` (N, V) and
    ``targets`` (N,). bf16/fp16 logits are computed in fp32; the loss comes
    back in fp32 and the gradient in the logits' dtype. The backward pass
    reuses the saved softmax buffer, so it can run once per forward.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = require_choice("reduction", reduction, _REDUCTIONS)
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            logits, targets, ignore_index=self.ignore_index, reduction=self.reduction
        )

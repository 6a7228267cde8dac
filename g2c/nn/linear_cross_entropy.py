"""The LM head and its loss in one pass, a chunk of positions at a time.

An LM's last step maps hidden states to logits and the logits to a loss:

    hidden (N, d) --@ weight.T (V, d) + bias (V,)--> logits (N, V) --> loss

N = B·T positions, V the vocabulary. At N = 8,192 and V = 50,304 the logits
are 1.5 GiB in fp32, and forward+backward needs 3.1 GiB (4.6 GiB with PyTorch's
loss; docs/benchmarks.md). Yet each position's loss needs only its own row of
logits. So we take the rows ``c`` at a time (a *chunk*), and for each chunk:

    z = h_c @ weight.T + bias             (c, V) — the only big buffer, reused
    log p = log_softmax(z)                 loss_n = -log p[n, target_n]
    G = softmax(z) - one_hot(targets)      d loss / d z, written over z
    grad_hidden[c rows] = G @ weight       (c, d)
    grad_weight        += G.T @ h_c        (V, d)
    grad_bias          += G.T @ 1          (V,)

Peak memory is one (c, V) buffer plus gradients the size of the inputs. For
``reduction="mean"``/``"sum"`` the gradients are computed in the forward pass,
while each chunk's softmax is at hand: the backward pass only multiplies them
by the incoming scalar gradient, so the logits are computed once, not twice.
With ``reduction="none"`` the upstream gradient differs per row and is not
known at forward time; there the forward pass keeps the (N,) log-sum-exps
and the backward pass recomputes each chunk's logits.

Beyond plain cross-entropy, each row's loss can carry a **z-loss** (PaLM,
Chowdhery et al. 2022): ``z_loss · lse_n²`` with ``lse_n = logsumexp(z[n])``,
which pulls the softmax normaliser log Z towards 0 and steadies training;
PaLM uses ``z_loss = 1e-4`` (``g2c pretrain --z-loss 1e-4``). It is reduced
like the rest, so with ``reduction="mean"`` the total is
``mean(CE) + z_loss · mean(lse²)`` over the non-ignored positions.

Low-precision (bf16/fp16) inputs run the three matmuls in their own dtype
while the softmax, the losses and the cross-chunk gradient sums stay fp32.

The forward pass forms each row's logit gradient at weight 1 — the "sum"
scale — not at the mean's 1/N. In fp16 this matters: a probability p ≈ 1/V
divided by N = B·T is ~2e-9 at V = 50,304, N = 8,192, far below fp16's
smallest number (6e-8), so it would flush to zero before the loss scaler's
factor (65,536) ever reached it. At weight 1 every entry is as representable
as in the materialised path. Backward then multiplies by the incoming
gradient (which carries the loss scale) divided by N, in fp32 for
grad_weight and grad_bias, and only then casts to the inputs' dtype:

    forward:  G_sum = softmax(z) - one_hot(t)             entries >= ~1/V, fine in fp16
    backward: grad  = G_sum · (grad_loss / N)               grad_loss = 65,536 under fp16

Tiny worked example, V = 2, d = 1, no bias: hidden = [[1.0]], weight = [[0.0], [0.0]],
target = [1]  ->  logits = [[0, 0]],  loss = log(e^0 + e^0) - 0 = log 2
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch.nn import functional as F

from g2c.nn.cross_entropy import cross_entropy
from g2c.validation import require_choice, require_integer_tensor, require_positive_int

_REDUCTIONS = ("mean", "sum", "none")
# Default chunk: the most rows, a power of two, whose fp32 logits fit in
# this many bytes (512 rows = 98 MiB at V = 50,304). Bigger chunks make
# better-shaped matmuls — at N = 8192, d = 768 a step takes 11.2 s with 64
# rows, 9.3 s with 256, 8.9 s with 512 on the reference CPU — and smaller
# ones save memory. See docs/benchmarks.md, "LM-head loss (issue 7)".
_CHUNK_BYTES = 128 * 2**20
# Up to this many logits (N·V = 2^24) the plain path — F.linear, then
# g2c.nn.cross_entropy — takes over: its two fp32 (N, V) tensors (logits and
# softmax) fit in the buffer budget above, so chunking would save nothing;
# and it is faster for tiny heads (1.6x at N = 64, V = 65), level from about
# 2M logits. Above it the chunked path runs as fast and saves memory.
PLAIN_PATH_MAX_LOGITS = _CHUNK_BYTES // 8


@dataclass(frozen=True)
class _LossSpec:
    """The per-call settings the autograd function needs (all plain Python)."""

    ignore_index: int
    reduction: str
    z_loss: float
    chunk_size: int


def default_chunk_size(num_rows: int, vocab_size: int) -> int:
    """Rows per chunk when the caller gives none: a power of two, ≤ 128 MiB of logits."""
    fitting_rows = max(16, _CHUNK_BYTES // (4 * vocab_size))
    rows = 1 << (fitting_rows.bit_length() - 1)  # round down to a power of two
    return max(1, min(rows, num_rows))


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    z_loss: float = 0.0,
    chunk_size: int | None = None,
    check_targets: bool = True,
) -> torch.Tensor:
    """Cross-entropy of ``hidden @ weight.T + bias`` against ``targets``, chunked.

    Equal in value and gradients to ``cross_entropy(F.linear(hidden, weight,
    bias), targets)`` but never holds the (N, V) logits or their gradient.

    Args:
        hidden: (N, d) or (B, T, d) final hidden states.
        weight: (V, d) output embedding (the token embedding when tied); ``bias``: (V,).
        targets: (N,) or (B, T) integer next-token ids, matching ``hidden``.
        ignore_index, reduction: as in :func:`g2c.nn.cross_entropy`.
        z_loss: coefficient of the PaLM z-loss (the module docstring); 0 turns it off.
        chunk_size: rows per chunk; ``None`` picks one (and takes the plain path
            below ``PLAIN_PATH_MAX_LOGITS`` logits).
        check_targets: refuse ids outside [0, V); reads the targets back to the
            host, so a caller whose targets are valid by construction turns it off.

    Returns the loss in fp32 (fp64 for fp64 inputs). With ``"mean"``/``"sum"`` the gradients are
    computed during the forward pass (evaluate under ``torch.no_grad()`` to
    skip them) and one backward pass per forward is supported.
    """
    flat_hidden, flat_targets = _check_inputs(hidden, weight, bias, targets, ignore_index,
                                              check_targets)
    require_choice("reduction", reduction, _REDUCTIONS)
    if isinstance(z_loss, bool) or not isinstance(z_loss, (int, float)) \
            or not 0 <= z_loss < math.inf:
        raise ValueError(f"z_loss must be a finite float >= 0 (PaLM: 1e-4); got {z_loss!r}")
    if chunk_size is not None:
        require_positive_int("chunk_size", chunk_size)
    device_type = flat_hidden.device.type
    if torch.is_autocast_enabled(device_type):
        # Autocast would run the head's matmul in its low-precision dtype: make
        # that cast here, differentiably, and keep autocast out of the loop.
        low = torch.get_autocast_dtype(device_type)
        flat_hidden, weight = flat_hidden.to(low), weight.to(low)
        bias = None if bias is None else bias.to(low)
    if len({t.dtype for t in (flat_hidden, weight, bias) if t is not None}) > 1:
        raise TypeError(
            f"hidden, weight and bias must share one dtype; got {hidden.dtype}, "
            f"{weight.dtype}, {None if bias is None else bias.dtype}"
        )
    num_rows, vocab_size = flat_hidden.shape[0], weight.shape[0]
    if chunk_size is None and z_loss == 0.0 and num_rows * vocab_size <= PLAIN_PATH_MAX_LOGITS:
        logits = F.linear(flat_hidden, weight, bias)
        losses = cross_entropy(logits, flat_targets, ignore_index=ignore_index, reduction=reduction,
                               check_targets=False)  # checked above
    else:
        if chunk_size is None:
            # z-loss at a small size: one chunk is the plain path.
            small = num_rows * vocab_size <= PLAIN_PATH_MAX_LOGITS
            chunk_size = max(num_rows, 1) if small else default_chunk_size(num_rows, vocab_size)
        spec = _LossSpec(ignore_index, reduction, float(z_loss), int(chunk_size))
        grad_on = torch.is_grad_enabled()
        needs = tuple(
            grad_on and t is not None and t.requires_grad for t in (flat_hidden, weight, bias)
        )
        losses = _LinearCrossEntropy.apply(flat_hidden, weight, bias, flat_targets, spec, needs)
    return losses.view(targets.shape) if reduction == "none" else losses


def _check_inputs(hidden, weight, bias, targets, ignore_index, check_targets):
    """Validate; return hidden as (N, d) and targets as int64 (N,)."""
    for name, value in (("hidden", hidden), ("weight", weight), ("bias", bias)):
        if value is None and name == "bias":
            continue
        if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
            raise TypeError(
                f"{name} must be a floating-point torch.Tensor; got {type(value).__name__} "
                f"with dtype {getattr(value, 'dtype', None)}"
            )
    require_integer_tensor("targets", targets)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise TypeError(f"ignore_index must be an int; got {ignore_index!r}")
    shapes = (
        f"got hidden {tuple(hidden.shape)}, weight {tuple(weight.shape)}, bias "
        f"{None if bias is None else tuple(bias.shape)}, targets {tuple(targets.shape)}"
    )
    fits = (
        hidden.ndim in (2, 3)
        and weight.ndim == 2
        and weight.shape[1] == hidden.shape[-1]
        and (bias is None or tuple(bias.shape) == (weight.shape[0],))
        and tuple(targets.shape) == tuple(hidden.shape[:-1])
    )
    if not fits:
        raise ValueError(
            "shapes must be hidden (N, d) or (B, T, d), weight (V, d), bias (V,) or None, "
            f"targets (N,) or (B, T) matching hidden; {shapes}"
        )
    vocab_size = weight.shape[0]
    flat_targets = targets.reshape(-1).long()
    if check_targets and flat_targets.numel():
        low, high = torch.aminmax(flat_targets)
        if not (0 <= int(low) and int(high) < vocab_size):
            # An id outside [0, V) would silently pick a wrong row; refuse it.
            outside = (flat_targets < 0) | (flat_targets >= vocab_size)
            bad = outside & (flat_targets != ignore_index)
            if bool(bad.any()):
                raise ValueError(
                    f"targets must be token ids in [0, {vocab_size}) (V from weight shape "
                    f"{tuple(weight.shape)}) or ignore_index={ignore_index}; got "
                    f"{int(flat_targets[bad][0])}"
                )
    return hidden.reshape(-1, hidden.shape[-1]), flat_targets


class _LinearCrossEntropy(torch.autograd.Function):
    """Chunked head + loss; gradients made in forward unless reduction="none"."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, spec, needs):
        valid = targets != spec.ignore_index
        safe_targets = targets.masked_fill(~valid, 0)
        # A tensor, not a Python int: reading it would wait for the device.
        count = valid.sum().clamp(min=1) if spec.reduction == "mean" else 1
        ctx.spec = spec
        precompute = any(needs) and spec.reduction != "none"
        # Weight 1 per valid row (the "sum" scale; see the module docstring): backward
        # applies the mean's 1/count together with the incoming gradient.
        row_weight = valid.to(_accumulation_dtype(hidden.dtype)) if precompute else None
        losses, lse, grads = _run_chunks(
            hidden, weight, bias, safe_targets, spec, row_weight=row_weight, needs=needs
        )
        losses = losses * valid
        if spec.reduction == "none":
            ctx.save_for_backward(hidden, weight, bias, safe_targets, valid, lse)
            return losses
        ctx.grads, ctx.count = grads, count
        return losses.sum() / count

    @staticmethod
    def backward(ctx, grad_loss):
        spec = ctx.spec
        if spec.reduction == "none":
            hidden, weight, bias, safe_targets, valid, lse = ctx.saved_tensors
            needs = tuple(ctx.needs_input_grad[:3])
            row_weight = grad_loss.to(lse.dtype) * valid
            _, _, grads = _run_chunks(
                hidden, weight, bias, safe_targets, spec,
                row_weight=row_weight, needs=needs, known_lse=lse,
            )
            return (*grads.finish(), None, None, None)
        grads, ctx.grads = ctx.grads, None
        if grads is None:
            raise RuntimeError(
                "g2c linear_cross_entropy computes its gradients in the forward pass "
                "and hands them over once: one backward per forward (retain_graph "
                "is not supported with reduction='mean'/'sum')"
            )
        # The chain rule's scalar factor (with the mean's 1/count), before the final cast.
        return (*grads.finish(scale=grad_loss / ctx.count), None, None, None)


def _run_chunks(hidden, weight, bias, targets, spec, *, row_weight, needs, known_lse=None):
    """Loop over row chunks; return (per-row losses, per-row lse, gradients).

    Three uses: the loss only (``row_weight`` None); loss and gradients
    scaled by ``row_weight`` (forward of mean/sum); gradients only from the
    saved ``known_lse`` (backward of ``reduction="none"``). The gradients come
    as a :class:`_GradientAccumulator` (None without ``row_weight``) whose
    ``finish`` scales and casts them.
    """
    num_rows, vocab_size = hidden.shape[0], weight.shape[0]
    rows_per_chunk = max(1, min(spec.chunk_size, num_rows))
    acc = _accumulation_dtype(hidden.dtype)
    logits = torch.empty(rows_per_chunk, vocab_size, dtype=acc, device=hidden.device)
    losses = lse = None
    if known_lse is None:
        losses = torch.zeros(num_rows, dtype=acc, device=hidden.device)
        lse = torch.empty(num_rows, dtype=acc, device=hidden.device)
    grads = None
    if row_weight is not None and any(needs):
        grads = _GradientAccumulator(hidden, weight, bias, needs, rows_per_chunk)
    with torch.autocast(hidden.device.type, enabled=False):  # dtypes are set here
        for start in range(0, num_rows, rows_per_chunk):
            stop = min(start + rows_per_chunk, num_rows)
            h, t, z = hidden[start:stop], targets[start:stop], logits[: stop - start]
            _logits_into(z, h, weight, bias)
            if known_lse is None:
                chunk_lse, chunk_loss = _log_softmax_loss_(z, t, spec)  # z now holds log p
                lse[start:stop] = chunk_lse
                losses[start:stop] = chunk_loss
            else:
                chunk_lse = known_lse[start:stop]
                z.sub_(chunk_lse.unsqueeze(1))  # log p = z - lse, no second softmax pass
            if grads is not None:
                z.exp_()  # probabilities, in the same buffer
                _probs_to_logit_grad_(z, t, chunk_lse, row_weight[start:stop], spec)
                grads.add_chunk(z, h, start, stop)
    return losses, lse, grads


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp32 for bf16/fp16/fp32 inputs, fp64 for fp64."""
    return torch.promote_types(dtype, torch.float32)


def _logits_into(out, h, weight, bias):
    """Write the chunk's logits ``h @ weight.T + bias`` into ``out`` (fp32 or fp64)."""
    if h.dtype == out.dtype:
        if bias is None:
            torch.mm(h, weight.T, out=out)
        else:
            torch.addmm(bias, h, weight.T, out=out)
    else:
        # Low precision: the matmul's own fp32 accumulator, then fp32 softmax.
        out.copy_(F.linear(h, weight, bias))


def _log_softmax_loss_(z, targets, spec):
    """Turn logits ``z`` (c, V) into log-probabilities in place; return (lse, loss)."""
    rows = torch.arange(z.shape[0], device=z.device)
    target_logit = z[rows, targets]
    torch.log_softmax(z, dim=1, out=z)  # one fused, overflow-free pass, in place
    target_log_prob = z[rows, targets]
    lse = target_logit - target_log_prob  # log p = z - lse at every column
    loss = -target_log_prob
    if spec.z_loss:
        loss = loss + spec.z_loss * lse.square()
    return lse, loss


def _probs_to_logit_grad_(probs, targets, lse, row_weight, spec):
    """Overwrite ``probs`` (c, V) with d loss / d logits for these rows.

    Row n: ``w_n · ((1 + 2·z_loss·lse_n)·p - one_hot(t_n))``, where ``w_n``
    is the row's share of the loss (0 for ignored rows).
    """
    scale = row_weight * (1 + 2 * spec.z_loss * lse) if spec.z_loss else row_weight
    probs.mul_(scale.unsqueeze(1))
    rows = torch.arange(probs.shape[0], device=probs.device)
    probs[rows, targets] -= row_weight


class _GradientAccumulator:
    """grad_hidden, grad_weight, grad_bias built chunk by chunk.

    Cross-chunk sums (grad_weight, grad_bias) live in fp32 (fp64 for fp64
    inputs) whatever the input dtype; the matmuls run in the inputs' dtype.
    """

    def __init__(self, hidden, weight, bias, needs, rows_per_chunk):
        need_hidden, need_weight, need_bias = needs
        self.weight = weight
        acc = _accumulation_dtype(hidden.dtype)
        self.low_precision = hidden.dtype != acc
        self.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        vocab_size, device = weight.shape[0], hidden.device
        self.hidden = torch.empty_like(hidden) if need_hidden else None
        zeros = partial(torch.zeros, dtype=acc, device=device)
        self.weight_sum = zeros(weight.shape) if need_weight else None
        self.bias_sum = zeros(vocab_size) if need_bias else None
        self.ones = torch.ones(rows_per_chunk, dtype=acc, device=device)

    def add_chunk(self, grad_logits, h, start, stop):
        """Fold one chunk's (c, V) logits gradient into the three gradients."""
        g = grad_logits.to(h.dtype) if self.low_precision else grad_logits
        if self.hidden is not None:
            torch.mm(g, self.weight, out=self.hidden[start:stop])
        if self.weight_sum is not None:
            if self.low_precision:
                self.weight_sum.add_(g.T @ h)
            else:
                self.weight_sum.addmm_(g.T, h)
        if self.bias_sum is not None:
            # A matrix-vector product: much faster than grad_logits.sum(0) on CPU.
            self.bias_sum.addmv_(grad_logits.T, self.ones[: stop - start])

    def finish(self, scale: torch.Tensor | None = None):
        """Return (grad_hidden, grad_weight, grad_bias) times ``scale``, in the inputs' dtypes.

        The fp32 sums are scaled before they are cast, so a loss scale lifts
        small entries into fp16's range before rounding, not after.
        """
        if scale is not None and self.hidden is not None:
            self.hidden.mul_(scale)
        sums = (self.weight_sum, self.bias_sum)
        if scale is not None:
            sums = tuple(None if total is None else total * scale for total in sums)
        weight, bias = (None if total is None else total.to(dtype)
                        for total, dtype in zip(sums, self.dtypes[1:]))
        return self.hidden, weight, bias

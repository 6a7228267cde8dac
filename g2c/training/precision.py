"""Mixed precision: 16-bit matmuls, fp32 weights, an fp32 loss.

Under ``torch.autocast`` the matmul-heavy ops (linear layers, attention) run
in a 16-bit float while the parameters — the "master weights" AdamW updates —
stay fp32. We leave autocast before the loss, and the loss's log-softmax and
mean run in fp32 (``lm_cross_entropy`` upcasts the logits), because a mean of
B·T terms in 16 bits loses the small differences training follows.

    precision  compute dtype   exponent/mantissa bits   needs a loss scaler
    fp32       float32         8 / 23                   no
    bf16       bfloat16        8 / 7   (fp32's range)   no
    fp16       float16         5 / 10  (max 65,504)     yes: small grads underflow

bf16 keeps fp32's range, so nothing overflows or underflows that would not in
fp32: "auto" picks it wherever the hardware multiplies it natively (see
:func:`resolve_precision`).
fp16 (for older GPUs) needs ``GradScaler``: it multiplies the loss by a large
scale before backward so tiny gradients stay representable, divides them
back before the step, and skips a step (halving the scale) whenever a
gradient overflowed to inf/nan.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from g2c.pretraining import lm_cross_entropy
from g2c.validation import require_choice

RESOLVED_PRECISIONS = ("fp32", "bf16", "fp16")  # what resolve_precision returns
PRECISIONS = ("auto", *RESOLVED_PRECISIONS)
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: str | torch.device, *,
                      native_cpu_bf16: bool = False) -> str:
    """Turn a ``--precision`` choice into "fp32", "bf16" or "fp16" for ``device``.

    "auto" is bf16 where the hardware multiplies bf16 natively — a CUDA GPU
    that supports it without emulation, or a CPU with AMX/AVX512-BF16
    (``native_cpu_bf16``, from ``g2c.training.cpu_tuning``) — and fp32
    elsewhere: emulated bf16 is slower than fp32.
    """
    require_choice("precision", precision, PRECISIONS)
    kind = torch.device(device).type
    native = native_cpu_bf16 if kind == "cpu" else (
        kind == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False))
    if precision == "auto":
        return "bf16" if native else "fp32"
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            "precision 'bf16' was requested but this GPU has no bfloat16 support; use "
            "--precision fp16 (with loss scaling) or fp32"
        )
    return precision


class TrainingPrecision:
    """Autocast, the fp32 loss, and (for fp16) the loss scaler — behind five calls.

        precision = TrainingPrecision("bf16", device)
        loss = precision.loss(model, x, y)        # forward in 16 bits, loss in fp32
        precision.backward(loss / accumulation_steps)
        grad_norm = precision.unscale_and_clip(optimizer, max_grad_norm=1.0)
        precision.step(optimizer)

    For fp32 and bf16, ``backward`` and ``step`` are plain ``loss.backward()``
    and ``optimizer.step()``; for fp16 they scale, unscale and maybe skip.
    """

    def __init__(self, precision: str = "auto", device: str | torch.device = "cpu", *,
                 native_cpu_bf16: bool = False) -> None:
        self.device_type = torch.device(device).type
        self.precision = resolve_precision(precision, device, native_cpu_bf16=native_cpu_bf16)
        self.dtype = _DTYPES[self.precision]
        self.scaler = torch.amp.GradScaler(self.device_type) if self.precision == "fp16" else None
        self.skipped_steps = 0

    def autocast(self):
        """Context for the forward pass (a no-op for fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def loss(
        self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, fused: bool = False,
        z_loss: float = 0.0, **model_kwargs,
    ) -> torch.Tensor:
        """Mean next-token loss of ``model`` on (B, T) ``x``/``y``, as an fp32 scalar.

        Only the model runs under autocast (``model_kwargs`` go to its
        forward); the (B, T, V) logits, whatever their dtype, go into the loss
        outside it, which reduces in fp32. ``fused=True`` lets the model compute
        the loss itself (``model(x, targets=y)``): its head-and-loss function
        does the same split — matmuls in the autocast dtype, softmax and sums
        in fp32 — chunk by chunk — and can add the z-loss (``z_loss``).
        """
        with self.autocast():
            if fused:
                return model(x, targets=y, z_loss=z_loss, **model_kwargs)
            logits = model(x, **model_kwargs)
        return lm_cross_entropy(logits, y)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale_and_clip(self, optimizer: torch.optim.Optimizer, *,
                         max_grad_norm: float | None) -> torch.Tensor:
        """Unscale (fp16), clip if asked; return the pre-clip gradient norm as a 0-d tensor.

        The norm stays on the device (no host read): the trainer checks it is
        finite together with the loss, and logs it at log steps.
        """
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, math.inf if max_grad_norm is None
                                              else max_grad_norm)
        # Under FSDP2 the norm is a replicated DTensor; use it as a plain tensor.
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm

    def step(self, optimizer: torch.optim.Optimizer, *, skip: torch.Tensor | None = None) -> None:
        """The optimizer step on unscaled gradients. Under fp16 a step whose gradients
        overflowed is skipped (the scale halves) and counted in ``skipped_steps``.

        ``skip``: a 0-d bool tensor; when true the step leaves weights and optimizer state
        as they are. A fused optimizer decides that on the device (its ``found_inf``, the
        loss scaler's own mechanism); any other reads ``skip`` back first.
        """
        if self.scaler is None:
            if skip is None:
                optimizer.step()
            elif getattr(optimizer, "_step_supports_amp_scaling", False):
                optimizer.found_inf = skip.float()
                optimizer.step()
                del optimizer.found_inf
            elif not bool(skip):
                optimizer.step()
            return
        scale_before = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        self.skipped_steps += int(self.scaler.get_scale() < scale_before)

    def state_dict(self) -> dict:
        """What a checkpoint needs for a bit-exact resume (the fp16 scale and its counters)."""
        return {
            "precision": self.precision,
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "skipped_steps": self.skipped_steps,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("precision") != self.precision:
            raise ValueError(
                f"checkpoint was trained with precision {state.get('precision')!r} but this run "
                f"uses {self.precision!r}; resume with --precision {state.get('precision')}"
            )
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.skipped_steps = int(state.get("skipped_steps", 0))


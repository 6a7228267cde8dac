"""Mixed precision on the CPU: bf16 autocast, fp16 with a loss scaler, fp32 weights and loss."""

from __future__ import annotations

import pytest
import torch

from g2c.pretraining import get_lm_batch, lm_cross_entropy
from g2c.training import precision as precision_module
from g2c.training.precision import TrainingPrecision, resolve_precision
from g2c.transformer import TransformerLM

VOCAB, CONTEXT = 40, 16
# bf16 keeps 8 significant bits (a relative step of 2^-8 ≈ 0.4%) in the
# matmuls, but the log-softmax and the mean run in fp32. On the fixed batch
# below the bf16 loss is 1.5e-5 (relative) from fp32, and at most 1.2e-4 over
# six batches. For scale: a log-softmax computed in bf16 instead misses by
# 4e-4 to 3e-3, and a loss summed in bf16 by 3-5%.
BF16_RELATIVE_TOLERANCE = 5e-4


def repetitive_stream() -> torch.Tensor:
    """A learnable stream (a noisy repeating pattern), so a few steps move the loss."""
    pattern = torch.randint(0, VOCAB, (37,), generator=torch.Generator().manual_seed(0))
    stream = pattern.repeat(60)
    noise = torch.rand(len(stream), generator=torch.Generator().manual_seed(1)) < 0.1
    return torch.where(noise, torch.randint(0, VOCAB, stream.shape), stream)


def fixed_batch(seed: int = 2):
    generator = torch.Generator().manual_seed(seed)
    return get_lm_batch(repetitive_stream(), 8, CONTEXT, generator=generator)


def fresh_model() -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(VOCAB, 32, 2, 4, CONTEXT)


def train(precision: TrainingPrecision, steps: int) -> TransformerLM:
    model = fresh_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(3)
    for _ in range(steps):
        x, y = get_lm_batch(repetitive_stream(), 8, CONTEXT, generator=generator)
        precision.backward(precision.loss(model, x, y))
        precision.unscale_and_clip(optimizer, max_grad_norm=1.0)
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
    return model


@pytest.fixture(scope="module")
def trained_fp32_model():
    return train(TrainingPrecision("fp32"), steps=30)


def test_bf16_loss_is_within_tolerance_of_fp32_on_a_fixed_batch(trained_fp32_model):
    x, y = fixed_batch()
    with torch.no_grad():
        fp32 = float(TrainingPrecision("fp32").loss(trained_fp32_model, x, y))
        bf16 = float(TrainingPrecision("bf16").loss(trained_fp32_model, x, y))
    assert fp32 < 0.9 * torch.log(torch.tensor(float(VOCAB)))  # trained: logits are not ~0
    assert bf16 != fp32  # bf16 really ran
    assert abs(bf16 - fp32) <= BF16_RELATIVE_TOLERANCE * fp32


@pytest.mark.parametrize("name, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_forward_runs_in_16_bits_but_the_loss_is_fp32(name, dtype):
    precision, model = TrainingPrecision(name), fresh_model()
    x, y = fixed_batch()
    with precision.autocast():
        assert model(x).dtype == dtype
    assert precision.loss(model, x, y).dtype == torch.float32


@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_training_in_16_bits_keeps_fp32_weights_and_learns(name):
    x, y = fixed_batch()
    model = train(TrainingPrecision(name), steps=15)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        before = float(lm_cross_entropy(fresh_model()(x), y))
        assert float(lm_cross_entropy(model(x), y)) < before - 0.3


def test_fp16_clips_the_unscaled_gradient_norm():
    x, y = fixed_batch()
    norms = {}
    for name in ("fp32", "fp16"):
        precision, model = TrainingPrecision(name), fresh_model()
        precision.backward(precision.loss(model, x, y))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        norms[name] = float(precision.unscale_and_clip(optimizer, max_grad_norm=1e9))
    assert precision.scaler.get_scale() > 1000  # the loss really was scaled up
    assert norms["fp16"] == pytest.approx(norms["fp32"], rel=1e-2)


def test_fp16_skips_a_step_whose_gradients_overflowed():
    precision, model = TrainingPrecision("fp16"), fresh_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    scale = precision.scaler.get_scale()
    precision.backward(precision.loss(model, *fixed_batch()) * float("inf"))
    precision.step(optimizer)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert precision.skipped_steps == 1 and precision.scaler.get_scale() == scale / 2


def test_scaler_state_round_trips_for_resume():
    trained, model = TrainingPrecision("fp16"), fresh_model()
    trained.backward(trained.loss(model, *fixed_batch()) * float("inf"))
    trained.step(torch.optim.SGD(model.parameters(), lr=0.1))
    resumed = TrainingPrecision("fp16")
    resumed.load_state_dict(trained.state_dict())
    assert resumed.scaler.get_scale() == trained.scaler.get_scale()
    assert resumed.skipped_steps == 1
    with pytest.raises(ValueError, match=r"'fp16' but this run uses 'bf16'.*--precision fp16"):
        TrainingPrecision("bf16").load_state_dict(trained.state_dict())


def test_precision_choices(monkeypatch):
    assert resolve_precision("auto", "cpu") == "fp32"  # no native bf16: emulated is slower
    assert resolve_precision("auto", "cpu", native_cpu_bf16=True) == "bf16"  # AMX, AVX512-BF16
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match=r"one of .*'fp16'.*got 'half'"):
        resolve_precision("half", "cpu")
    monkeypatch.setattr(precision_module.torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: True)
    assert resolve_precision("auto", "cuda") == "bf16"
    monkeypatch.setattr(precision_module.torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation)  # emulated only
    assert resolve_precision("auto", "cuda") == "fp32"
    assert resolve_precision("bf16", "cuda") == "bf16"  # asked for: emulated is allowed
    monkeypatch.setattr(precision_module.torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: False)
    with pytest.raises(ValueError, match=r"no bfloat16 support; use --precision fp16"):
        resolve_precision("bf16", "cuda")

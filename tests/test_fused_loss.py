"""model(x, targets=y): the LM head and the loss fused, equal to the course's two steps."""

import pytest
import torch

from g2c.pretraining import lm_cross_entropy
from g2c.nn.linear_cross_entropy import PLAIN_PATH_MAX_LOGITS
from g2c.training import Trainer, TrainingConfig
from g2c.transformer import TransformerLM


def gradients(model):
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("batch, vocab", [(3, 50), (17, 4096)])
def test_fused_loss_equals_lm_cross_entropy_of_the_logits(batch, vocab):
    # (17, 4096) at T=256 is past PLAIN_PATH_MAX_LOGITS, so the chunked path runs.
    context = 256
    torch.manual_seed(0)
    model = TransformerLM(vocab, 32, 2, 4, context)
    x = torch.randint(0, vocab, (batch, context))
    y = torch.randint(0, vocab, (batch, context))
    y[0, :5] = -100  # positions without a loss (e.g. after an <|endoftext|>) stay out of the mean
    assert (batch * context * vocab > PLAIN_PATH_MAX_LOGITS) == (vocab == 4096)

    fused = model(x, targets=y)
    fused.backward()
    fused_grads = gradients(model)
    model.zero_grad()
    logits = model(x)
    kept = y != -100
    plain = lm_cross_entropy(logits[kept].unsqueeze(0), y[kept].unsqueeze(0))
    plain.backward()

    assert fused.shape == () and torch.allclose(fused, plain, atol=1e-5, rtol=1e-5)
    for name, grad in gradients(model).items():
        assert torch.allclose(fused_grads[name], grad, atol=1e-6, rtol=1e-4), name


def test_fused_loss_checks_the_targets_shape():
    model = TransformerLM(20, 16, 1, 2, 8)
    with pytest.raises(ValueError, match=r"targets \(2, 7\)"):
        model(torch.zeros(2, 8, dtype=torch.long), targets=torch.zeros(2, 7, dtype=torch.long))


def test_trainer_follows_the_same_curve_with_and_without_the_fused_loss():
    ids = torch.arange(4000) % 23
    results = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = TransformerLM(23, 16, 2, 2, 16)
        config = TrainingConfig(batch_size=4, context_length=16, max_steps=15, eval_interval=5,
                                device="cpu", precision="fp32", fused_loss=fused)
        results.append(Trainer(model, ids[:3500], ids[3500:], config, quiet=True).fit())
    fused_run, plain_run = results
    assert len(fused_run.history["val"]) >= 3
    assert fused_run.final_val_loss < fused_run.history["val"][0][1]  # it learns
    for (step_a, a), (step_b, b) in zip(fused_run.history["val"], plain_run.history["val"]):
        assert step_a == step_b and a == pytest.approx(b, abs=1e-4)
    assert fused_run.final_train_loss == pytest.approx(plain_run.final_train_loss, abs=1e-4)

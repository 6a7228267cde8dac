"""optimizer="muon": orthogonalised updates for the matrices, AdamW for the rest.

Training with it: tests/test_trainer.py; resuming it: tests/test_checkpoint.py."""

import pytest
import torch
from torch import nn

from g2c.training import TrainingConfig
from g2c.training.muon import MuonWithAdamW, orthogonalize
from g2c.training.optimizer import build_optimizer
from g2c.transformer import TransformerLM

VOCAB, CONTEXT = 24, 16


def config(**overrides):
    values = dict(batch_size=4, context_length=CONTEXT, learning_rate=3e-3, warmup_steps=5,
                  max_steps=40, eval_interval=20, log_interval=5, device="cpu",
                  optimizer="muon", muon_learning_rate=0.03)
    values.update(overrides)
    return TrainingConfig(**values)


@pytest.mark.parametrize("shape", [(32, 96), (96, 32), (48, 48)])
def test_orthogonalize_keeps_the_singular_vectors_and_evens_out_the_values(shape):
    # A gradient-like matrix: a few strong directions on top of weak noise.
    torch.manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(shape[0], shape[0]))
    v, _ = torch.linalg.qr(torch.randn(shape[1], shape[1]))
    rank = min(shape)
    strengths = torch.logspace(0, -3, rank)  # singular values spanning 1000x
    matrix = u[:, :rank] @ torch.diag(strengths) @ v[:, :rank].T
    result = orthogonalize(matrix)
    assert result.shape == matrix.shape
    values = torch.linalg.svdvals(result)
    assert values[: rank // 2].min() > 0.6 and values.max() < 1.25  # evened out, not 1000x
    exact = u[:, :rank] @ v[:, :rank].T  # the SVD answer: U·Vᵀ
    cosine = (result * exact).sum() / (result.norm() * exact.norm())
    assert cosine > 0.9


def test_matrices_go_to_muon_and_the_embedding_and_vectors_to_adamw():
    net = TransformerLM(VOCAB, 32, 2, 4, CONTEXT, positions="rotary", mlp="swiglu")
    optimizer = build_optimizer(net, config(), torch.device("cpu"))
    assert isinstance(optimizer, MuonWithAdamW)
    names = {id(p): name for name, p in net.named_parameters()}
    by_algorithm = {}
    for group in optimizer.param_groups:
        by_algorithm.setdefault(group["algorithm"], set()).update(names[id(p)]
                                                                  for p in group["params"])
    linear_weights = {f"{name}.weight" for name, module in net.named_modules()
                      if isinstance(module, nn.Linear)}
    assert by_algorithm["muon"] == linear_weights
    assert "token_embedding.weight" in by_algorithm["adamw"]
    assert by_algorithm["muon"] | by_algorithm["adamw"] == set(names.values())
    stacking = {names[id(p)]: group["stacked"] for group in optimizer.param_groups
                if group["algorithm"] == "muon" for p in group["params"]}
    assert stacking["blocks.0.attn.qkv.weight"] == 3  # q, k, v
    assert stacking["blocks.1.mlp.up.weight"] == 2  # SwiGLU's gate and value
    assert stacking["blocks.0.attn.proj.weight"] == stacking["blocks.0.mlp.down.weight"] == 1


def test_a_stacked_weight_is_orthogonalised_one_map_at_a_time():
    """q's gradient 1000x larger than k's and v's: each map still moves by a full step."""
    net = TransformerLM(VOCAB, 32, 1, 4, CONTEXT, positions="rotary", mlp="swiglu")
    optimizer = build_optimizer(net, config(weight_decay=0.0), torch.device("cpu"))
    for group in optimizer.param_groups:
        group["lr"] = 1.0 if group["algorithm"] == "muon" else 0.0
    qkv = net.blocks[0].attn.qkv.weight  # (3·32, 32): q, k and v stacked
    torch.manual_seed(0)
    for param in net.parameters():
        param.grad = torch.zeros_like(param)
    scale = torch.tensor([1000.0, 1.0, 1.0]).repeat_interleave(32)[:, None]
    qkv.grad = torch.randn_like(qkv) * scale
    before = qkv.detach().clone()
    optimizer.step()
    for block in (before - qkv.detach()).chunk(3):  # each map's update: orthogonal, (32, 32)
        values = torch.linalg.svdvals(block)
        assert values.median() > 0.6 and values.max() < 1.25  # not swamped by q's gradient
    # Orthogonalised whole, the keys' and values' blocks would barely move.
    whole = orthogonalize(qkv.grad).chunk(3)
    assert whole[1].norm() < 0.01 * whole[0].norm()


@pytest.mark.parametrize("values, message", [
    (dict(optimizer="sgd"), r"optimizer must be one of 'adamw', 'muon'; got 'sgd'"),
    (dict(muon_learning_rate=0.0), r"muon_learning_rate must be > 0.0"),
])
def test_bad_optimizer_settings_are_refused_by_name(values, message):
    with pytest.raises(ValueError, match=message):
        config(**values)


def test_muon_groups_take_matrices_only():
    with pytest.raises(ValueError, match="2-D weight matrices only"):
        MuonWithAdamW([{"params": [nn.Parameter(torch.ones(3))], "algorithm": "muon"}],
                      lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)

"""TransformerLM's keyword-only architecture options: rotary, gated MLP, RMSNorm, no biases."""

import math

import pytest
import torch
from torch.nn import functional as F

from g2c.pretraining import get_lm_batch, lm_cross_entropy
from g2c.transformer import ModelConfig, TransformerLM
from g2c.transformer.attention import explicit_causal_attention
from g2c.transformer.rotary import RotaryEmbedding

MODERN = dict(positions="rotary", mlp="swiglu", norm="rms", bias=False)


def _model(**options):
    torch.manual_seed(0)
    return TransformerLM(50, 32, 2, 4, 16, **options)


@pytest.mark.parametrize("options", [
    dict(positions="rotary"), dict(mlp="swiglu"), dict(norm="rms"), dict(bias=False),
    dict(output_bias=False), dict(qk_norm=True), MODERN,
])
def test_every_option_keeps_the_shape_and_causality(options):
    model = _model(**options).eval()
    x = torch.randint(0, 50, (2, 16))
    changed = x.clone()
    changed[:, 9:] = torch.randint(0, 50, (2, 7))
    with torch.no_grad():
        a, b = model(x), model(changed)
    assert a.shape == (2, 16, 50)
    torch.testing.assert_close(a[:, :9], b[:, :9], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_modern_options_parameter_count():
    vocab, dim, layers, hidden = 50, 32, 3, 80
    model = TransformerLM(vocab, dim, layers, 4, 16, hidden_dim=hidden, **MODERN)
    per_layer = (
        2 * dim  # two RMSNorm gains (no shift)
        + dim * 3 * dim + dim * dim  # qkv and output projection, no biases
        + dim * 2 * hidden + hidden * dim  # gated MLP: up makes gate and value at once
    )
    expected = vocab * dim + layers * per_layer + dim + vocab  # no position table
    assert sum(p.numel() for p in model.parameters()) == expected


def test_rotary_scores_depend_only_on_the_offset():
    rotary = RotaryEmbedding(head_dim=8, max_seq_len=32)
    q = torch.randn(8).expand(1, 1, 32, 8)  # the same query and key at every position
    k = torch.randn(8).expand(1, 1, 32, 8)
    q_rot, k_rot = rotary(q)[0, 0], rotary(k)[0, 0]
    # <q at t, k at s> is a function of t - s: compare offset 3 at two places.
    torch.testing.assert_close(q_rot[10] @ k_rot[7], q_rot[25] @ k_rot[22], atol=1e-4, rtol=0)
    assert not torch.allclose(q_rot[10] @ k_rot[7], q_rot[10] @ k_rot[2], atol=1e-3)
    torch.testing.assert_close(rotary(q)[..., 0, :], q[..., 0, :])  # position 0: no turn
    torch.testing.assert_close(rotary(q).norm(dim=-1), q.norm(dim=-1))  # rotations keep length


@pytest.mark.parametrize("positions_from", [0, 5])
def test_rotary_model_sees_only_relative_positions(positions_from):
    # Rotary turns queries *and* keys, so shifting every position by the same amount
    # leaves all attention scores, and so the logits, unchanged. (Turning only the
    # queries would make the scores depend on absolute positions.)
    model = _model(**MODERN).eval()
    x = torch.randint(0, 50, (2, 8), generator=torch.Generator().manual_seed(4))
    positions = torch.arange(8).expand(2, 8)  # + 5 stays below max_seq_len = 16
    with torch.no_grad():
        plain = model(x)
        shifted = model(x, position_ids=positions + positions_from)
    torch.testing.assert_close(shifted, plain, atol=1e-5, rtol=1e-5)
    moved = torch.cat([positions[:, :4], positions[:, 4:] + 3], dim=1)  # not a uniform shift
    with torch.no_grad():
        assert not torch.allclose(model(x, position_ids=moved), plain, atol=1e-4)


def test_explicit_attention_matches_pytorch_sdpa():
    q, k, v = (torch.randn(2, 3, 17, 8) for _ in range(3))
    torch.testing.assert_close(explicit_causal_attention(q, k, v),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("explicit", [False, True], ids=["sdpa", "explicit"])
def test_bf16_forward_on_cpu_matches_fp32(explicit):
    model = _model(**MODERN)
    model.set_cpu_bf16_attention(explicit)
    x = torch.randint(0, 50, (4, 16))
    with torch.no_grad():
        exact = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            approximate = model(x).float()
    assert (approximate - exact).abs().max() < 0.05


def test_bad_option_values_are_refused():
    with pytest.raises(ValueError, match="positions"):
        _model(positions="alibi")
    with pytest.raises(ValueError, match="mlp"):
        _model(mlp="relu")
    with pytest.raises(ValueError, match="norm"):
        _model(norm="batch")
    with pytest.raises(TypeError, match="bias"):
        _model(bias="no")
    with pytest.raises(TypeError, match="output_bias"):
        _model(output_bias=0)
    with pytest.raises(ValueError, match="even head_dim"):
        TransformerLM(50, 12, 1, 4, 16, positions="rotary")  # head_dim 3


def test_modern_model_learns_and_starts_at_log_vocab():
    model = _model(**MODERN)
    ids = torch.arange(3000) % 7 + 3
    x, y = get_lm_batch(ids, 8, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        start = float(lm_cross_entropy(model(x), y))
    assert abs(start - math.log(50)) / math.log(50) < 0.05
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(40):
        loss = lm_cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * math.log(50)


def test_without_output_bias_the_logits_are_the_tied_unembedding_alone():
    with_bias, without = _model(), _model(output_bias=False)
    assert "output_bias" not in dict(without.named_parameters())
    assert sum(p.numel() for p in with_bias.parameters()) \
        - sum(p.numel() for p in without.parameters()) == 50
    x, y = torch.randint(0, 50, (2, 16)), torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        hidden = without.final_norm(without.blocks[1](without.blocks[0](
            without.token_embedding(x) + without.position_embedding(torch.arange(16)))))
        logits = without(x)
        torch.testing.assert_close(logits, hidden @ without.token_embedding.weight.T)
        torch.testing.assert_close(without(x, targets=y), lm_cross_entropy(logits, y))
    # A config.json written before the option existed builds the model it described.
    old = {"architecture": "TransformerLM", **ModelConfig(50).to_dict()}
    del old["output_bias"]
    assert ModelConfig.from_dict(old).build().output_bias is not None

"""TransformerLM: shape contract, causality, errors, parameter count, init."""

import math

import pytest
import torch

from g2c.pretraining import get_lm_batch, initial_loss_check, lm_cross_entropy
from g2c.transformer import TransformerLM


def _tiny(**kwargs):
    torch.manual_seed(0)
    args = dict(vocab_size=50, embedding_dim=32, num_layers=2, num_heads=4, max_seq_len=16)
    args.update(kwargs)
    return TransformerLM(**args)


def test_forward_maps_bt_ids_to_btv_logits():
    model = _tiny()
    logits = model(torch.randint(0, 50, (3, 10)))
    assert logits.shape == (3, 10, 50)


def test_changing_future_tokens_leaves_past_logits_unchanged():
    model = _tiny().eval()
    x = torch.randint(0, 50, (2, 16))
    t = 6
    x_changed = x.clone()
    x_changed[:, t + 1 :] = torch.randint(0, 50, (2, 16 - t - 1))
    with torch.no_grad():
        a, b = model(x), model(x_changed)
    torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_context_longer_than_max_seq_len_raises():
    with pytest.raises(ValueError, match="max_seq_len"):
        _tiny()(torch.randint(0, 50, (1, 17)))


def test_bad_inputs_raise_clear_errors():
    model = _tiny()
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.randint(0, 50, (16,)))
    with pytest.raises(TypeError, match="token_ids"):
        model(torch.rand(2, 4))
    with pytest.raises(ValueError, match="divisible"):
        TransformerLM(50, 30, 1, 4, 16)
    with pytest.raises(ValueError, match="vocab_size"):
        TransformerLM(0, 32, 1, 4, 16)


def test_parameter_count_formula():
    vocab, dim, layers, heads, max_len, hidden = 50, 32, 3, 4, 16, 80
    model = TransformerLM(vocab, dim, layers, heads, max_len, hidden_dim=hidden)
    embeddings = vocab * dim + max_len * dim  # tied: no separate unembedding matrix
    per_layer = (
        2 * (2 * dim)  # two LayerNorms (weight + bias)
        + (dim * 3 * dim + 3 * dim)  # qkv
        + (dim * dim + dim)  # attention output projection
        + (dim * hidden + hidden)  # MLP up
        + (hidden * dim + dim)  # MLP down
    )
    expected = embeddings + layers * per_layer + 2 * dim + vocab  # final norm, output bias
    assert sum(p.numel() for p in model.parameters()) == expected


def test_hidden_dim_defaults_to_four_times_embedding_dim():
    a = TransformerLM(50, 32, 1, 4, 16)
    b = TransformerLM(50, 32, 1, 4, 16, hidden_dim=128)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())


@pytest.mark.parametrize("vocab", [65, 512, 8192])
def test_fresh_model_loss_is_within_five_percent_of_log_vocab(vocab):
    model = _tiny(vocab_size=vocab, embedding_dim=64)
    x, y = get_lm_batch(torch.randint(0, vocab, (5000,)), 16, 16,
                        generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = float(lm_cross_entropy(model(x), y))
    assert abs(loss - math.log(vocab)) / math.log(vocab) < 0.05


def test_initial_loss_check_flags_leaked_targets():
    model = _tiny()
    ids = torch.randint(0, 50, (2000,))
    x, y = get_lm_batch(ids, 8, 16, generator=torch.Generator().manual_seed(0))
    assert initial_loss_check(model, x, y).verdict == "ok"

    # A "model" that copies its input's next token: the leaked-future bug.
    class Cheater(torch.nn.Module):
        def forward(self, token_ids):
            return torch.nn.functional.one_hot(token_ids, 50).float() * 50

    report = initial_loss_check(Cheater(), x, x)  # wrong targets: y == x
    assert report.verdict == "too_low"
    assert "not shifted" in report.explain()


def test_initial_loss_check_flags_over_confident_init():
    model = _tiny()
    with torch.no_grad():
        model.token_embedding.weight.mul_(200)
    x, y = get_lm_batch(torch.randint(0, 50, (2000,)), 8, 16,
                        generator=torch.Generator().manual_seed(0))
    report = initial_loss_check(model, x, y)
    assert report.verdict == "too_high" and "initialisation" in report.explain()


def test_a_few_steps_drive_loss_below_log_vocab():
    torch.manual_seed(0)
    model = _tiny(vocab_size=16)
    ids = torch.arange(4000) % 16  # a perfectly predictable stream
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        x, y = get_lm_batch(ids, 8, 16, generator=g)
        loss = lm_cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * math.log(16)

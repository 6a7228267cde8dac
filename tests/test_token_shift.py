"""TokenShift: a learned share of the previous token's embedding, added to each token's."""

from dataclasses import replace

import pytest
import torch

from g2c.app.export import export_target
from g2c.app.tracks import get_track
from g2c.training import TrainingConfig
from g2c.training.optimizer import build_optimizer
from g2c.transformer import TransformerLM
from g2c.transformer.generate import generate
from g2c.transformer.kv_cache import KVCache
from g2c.transformer.token_shift import TokenShift


def _shifting(positions="rotary", seed=0):
    """A tiny model whose token shift is switched on (λ random, not the initial zeros)."""
    torch.manual_seed(seed)
    model = TransformerLM(40, 32, 2, 4, 16, positions=positions, token_shift=True).eval()
    with torch.no_grad():
        model.token_shift.weight.normal_(0.0, 0.5)
    return model


def test_the_worked_example():
    shift = TokenShift(1)
    with torch.no_grad():
        shift.weight.fill_(0.5)
    e = torch.tensor([1.0, 2.0, 4.0]).view(1, 3, 1)  # (B, T, C)
    assert shift(e).flatten().tolist() == [1.0, 2.5, 5.0]
    previous = torch.tensor([[[10.0]]])  # the token before the row (a KV cache's last)
    assert shift(e, previous=previous).flatten().tolist() == [6.0, 2.5, 5.0]


def test_a_fresh_token_shift_is_the_plain_model_and_it_learns():
    torch.manual_seed(0)
    plain = TransformerLM(40, 32, 2, 4, 16)
    torch.manual_seed(0)
    shifting = TransformerLM(40, 32, 2, 4, 16, token_shift=True)
    assert torch.equal(shifting.token_shift.weight, torch.zeros(32))
    x = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(shifting(x), plain(x), atol=0, rtol=0)
    shifting(x, targets=x.roll(-1, 1)).backward()
    assert shifting.token_shift.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_the_output_at_t_reads_tokens_up_to_t_only(positions):
    model = _shifting(positions)
    x = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(2))
    changed = x.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % 40
    with torch.no_grad():
        a, b = model(x), model(changed)
    torch.testing.assert_close(a[:, :9], b[:, :9], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_a_packed_document_reads_exactly_as_if_it_were_alone():
    model = _shifting()
    lengths = [5, 7, 4]
    document_ids = torch.repeat_interleave(torch.arange(3), torch.tensor(lengths))[None]
    position_ids = torch.cat([torch.arange(n) for n in lengths])[None]
    x = torch.randint(0, 40, (1, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        packed = model(x, document_ids=document_ids, position_ids=position_ids)
        alone = model(x[:, 5:12])
        crossing = model(x, position_ids=position_ids)  # no document_ids: the shift crosses
    torch.testing.assert_close(packed[:, 5:12], alone, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(crossing[:, 5], alone[:, 0], atol=1e-4)


def test_the_kv_cache_keeps_the_last_embedding_so_decoding_equals_recomputing():
    model = _shifting()
    x = torch.randint(0, 40, (1, 12), generator=torch.Generator().manual_seed(4))
    cache = KVCache(model.max_seq_len)
    with torch.no_grad():
        full = model(x)
        steps = [model(x[:, :5], kv_cache=cache)]
        steps += [model(x[:, t:t + 1], kv_cache=cache) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    # Past max_seq_len the window slides and the cache restarts: still the recomputed tokens.
    ids = list(range(1, 10))
    expected = list(ids)
    with torch.no_grad():
        for _ in range(20):
            window = torch.tensor([expected[-model.max_seq_len:]])
            expected.append(int(model(window)[0, -1].argmax()))
    assert generate(model, ids, 20, temperature=0) == expected[len(ids):]


def test_muon_leaves_the_shift_to_adamw_without_weight_decay():
    model = TransformerLM(40, 32, 2, 4, 16, token_shift=True)
    optimizer = build_optimizer(model, TrainingConfig(optimizer="muon"), torch.device("cpu"))
    [group] = [g for g in optimizer.param_groups
               if any(p is model.token_shift.weight for p in g["params"])]
    assert group["algorithm"] == "adamw" and group["weight_decay"] == 0.0


def test_the_shakespeare_track_shifts_and_export_says_how_to_train_without_it():
    config = replace(get_track("ShakespeareLM").model, vocab_size=65)
    assert config.token_shift
    with pytest.raises(ValueError, match=r"token_shift=True .*--no-token-shift"):
        export_target(config)
    assert export_target(replace(config, token_shift=False)).model_class == "StableLmForCausalLM"

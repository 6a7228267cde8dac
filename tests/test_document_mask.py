"""Document masking: attention is causal and never crosses a document boundary."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F
from torch.nn.attention.flex_attention import BlockMask

from g2c.pretraining import get_packed_batch, lm_cross_entropy, pack_documents
from g2c.transformer import TransformerLM
from g2c.transformer.attention import CausalSelfAttention
from g2c.transformer.document_mask import (
    document_attention_mask,
    document_block_mask,
    document_causal_mask,
)

POSITION_KINDS = ["learned", "rotary"]


def _tiny(positions="learned"):
    torch.manual_seed(0)
    return TransformerLM(50, 32, 2, 4, 24, positions=positions).eval()


def _three_documents():
    """One row holding documents of 5, 7 and 4 tokens, with restarted positions."""
    lengths = [5, 7, 4]
    document_ids = torch.repeat_interleave(torch.arange(3), torch.tensor(lengths))[None]
    position_ids = torch.cat([torch.arange(n) for n in lengths])[None]
    x = torch.randint(0, 50, (1, sum(lengths)), generator=torch.Generator().manual_seed(1))
    return x, document_ids, position_ids


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=10), min_size=1, max_size=3)
       .map(lambda rows: [sorted(r) for r in rows])
       .filter(lambda rows: len({len(r) for r in rows}) == 1))
def test_mask_is_causal_and_same_document(rows):
    ids = torch.tensor(rows)
    mask = document_causal_mask(ids)
    batch, time = ids.shape
    assert mask.shape == (batch, 1, time, time) and mask.dtype == torch.bool
    for b in range(batch):
        for t in range(time):
            for s in range(time):
                assert bool(mask[b, 0, t, s]) == (s <= t and rows[b][s] == rows[b][t])


def test_the_mask_of_single_document_rows_is_the_causal_mask():
    q, k, v = torch.randn(3, 2, 4, 6, 8).unbind(0)
    masked = F.scaled_dot_product_attention(
        q, k, v, attn_mask=document_causal_mask(torch.zeros(2, 6, dtype=torch.long))
    )
    torch.testing.assert_close(masked, F.scaled_dot_product_attention(q, k, v, is_causal=True))


@pytest.mark.parametrize("positions", POSITION_KINDS)
def test_perturbing_another_document_leaves_logits_unchanged(positions):
    model = _tiny(positions)
    x, document_ids, position_ids = _three_documents()
    changed = x.clone()
    changed[:, :5] = (changed[:, :5] + 7) % 50  # the first document
    changed[:, 12:] = (changed[:, 12:] + 3) % 50  # the last document
    middle = slice(5, 12)
    with torch.no_grad():
        masked = [model(ids, document_ids=document_ids, position_ids=position_ids)
                  for ids in (x, changed)]
        plain = [model(ids) for ids in (x, changed)]
    torch.testing.assert_close(masked[0][:, middle], masked[1][:, middle], atol=1e-6, rtol=0)
    # Control: without document ids the middle document does read the first one.
    assert not torch.allclose(plain[0][:, middle], plain[1][:, middle], atol=1e-4)


@pytest.mark.parametrize("positions", POSITION_KINDS)
def test_a_packed_document_reads_exactly_as_if_it_were_alone(positions):
    model = _tiny(positions)
    x, document_ids, position_ids = _three_documents()
    with torch.no_grad():
        packed = model(x, document_ids=document_ids, position_ids=position_ids)
        alone = model(x[:, 5:12])
    torch.testing.assert_close(packed[:, 5:12], alone, atol=1e-5, rtol=1e-5)


def test_one_document_per_row_equals_ordinary_causal_attention():
    model = _tiny()
    x = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(2))
    # Row 1 holds two documents, so the whole batch takes the masked path;
    # rows 0 and 2 hold one document each and must match plain causal attention.
    document_ids = torch.zeros(3, 16, dtype=torch.long)
    document_ids[1, 9:] = 1
    with torch.no_grad():
        masked = model(x, document_ids=document_ids)
        plain = model(x)
        single = model(x, document_ids=torch.zeros_like(x))
    torch.testing.assert_close(masked[[0, 2]], plain[[0, 2]], atol=1e-5, rtol=1e-5)
    assert torch.equal(single, plain)
    assert torch.equal(model(x, position_ids=torch.arange(16).expand(3, 16)), plain)


def test_training_on_packed_batches_lowers_the_loss():
    torch.manual_seed(0)
    model = TransformerLM(12, 32, 1, 4, 16)
    # Documents count 1, 2, 3, ... from a random start: predictable inside a
    # document, unpredictable across one. Separator id 0.
    rng = np.random.default_rng(0)
    docs = [np.arange(s, s + n) % 11 + 1 for s, n in zip(rng.integers(0, 11, 200),
                                                         rng.integers(3, 12, 200))]
    offsets = np.cumsum([0] + [len(d) + 1 for d in docs[:-1]])
    ids = np.concatenate([np.append(d, 0) for d in docs])[:-1]
    plan = pack_documents(offsets, len(ids), 16)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        x, y, document_ids, position_ids = get_packed_batch(ids, plan, 8, generator=generator,
                                                           eot_id=0)
        loss = lm_cross_entropy(model(x, document_ids=document_ids, position_ids=position_ids), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_bad_document_and_position_ids_raise():
    model = _tiny()
    x = torch.randint(0, 50, (2, 8))
    decreasing = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 2, 2]])
    with pytest.raises(ValueError, match=r"non-decreasing.*row 1.*position 3"):
        model(x, document_ids=decreasing)
    with pytest.raises(ValueError, match="document_ids must have the shape"):
        model(x, document_ids=torch.zeros(2, 7, dtype=torch.long))
    with pytest.raises(TypeError, match="document_ids"):
        model(x, document_ids=torch.zeros(2, 8))
    with pytest.raises(ValueError, match="max_seq_len=24"):
        model(x, position_ids=torch.full((2, 8), 24))
    with pytest.raises(ValueError, match="position_ids"):
        model(x, position_ids=torch.full((2, 8), -1))
    with pytest.raises(ValueError, match="position_ids must have the shape"):
        model(x, position_ids=torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(TypeError):
        model(x, torch.zeros_like(x))  # keyword-only: a positional second argument is a mistake


def _packed_rows(batch, time, seed=2):
    """(B, T) document ids and restarted positions: documents of ~50 tokens, so the
    128 × 128 tiles of the block mask come full, partial and empty."""
    generator = torch.Generator().manual_seed(seed)
    starts = torch.rand(batch, time, generator=generator) < 0.02
    starts[:, 0] = True
    document_ids = starts.long().cumsum(dim=1) - 1
    index = torch.arange(time).expand(batch, time)
    first = torch.where(starts, index, 0).cummax(dim=1).values  # each position's document start
    return document_ids, index - first


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_with_the_block_mask_matches_sdpa_with_the_bool_mask():
    # FlexAttention's forward runs on CPU (its unfused reference; torch 2.13 has no CPU
    # backward), so the CUDA path's mask can be checked against SDPA's here.
    torch.manual_seed(0)
    attention = CausalSelfAttention(64, 4).eval()
    document_ids, _ = _packed_rows(3, 300)  # 300: the last tile is cut short
    h = torch.randn(3, 300, 64)
    block_mask = document_block_mask(document_ids)
    with torch.no_grad():
        sdpa = attention(h, attn_mask=document_causal_mask(document_ids))
        flex = attention(h, attn_mask=block_mask)
    torch.testing.assert_close(flex, sdpa, atol=1e-5, rtol=1e-5)
    assert isinstance(block_mask, BlockMask) and block_mask.sparsity() > 0  # tiles skipped


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_off_cuda_the_document_mask_is_the_bool_tensor_for_sdpa(device):
    document_ids, _ = _packed_rows(2, 40)
    mask = document_attention_mask(document_ids.to(device), head_dim=64)
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
    assert mask.shape == (2, 1, 40, 40) and mask.device.type == device


@pytest.mark.cuda
def test_packed_rows_on_cuda_take_flex_attention_and_match_the_cpu_model():
    torch.manual_seed(0)
    model = TransformerLM(50, 64, 2, 4, 256, positions="rotary")
    document_ids, position_ids = _packed_rows(2, 256)
    x = torch.randint(0, 50, (2, 256), generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 50, (2, 256), generator=torch.Generator().manual_seed(4))
    gpu_model = TransformerLM(50, 64, 2, 4, 256, positions="rotary").cuda()
    gpu_model.load_state_dict(model.state_dict())
    assert isinstance(document_attention_mask(document_ids.cuda(), gpu_model.head_dim), BlockMask)
    assert isinstance(document_attention_mask(document_ids.cuda(), head_dim=8), torch.Tensor)
    losses = []
    for net, device in ((model, "cpu"), (gpu_model, "cuda")):
        inputs = [t.to(device) for t in (x, y, document_ids, position_ids)]
        loss = lm_cross_entropy(net(inputs[0], document_ids=inputs[2], position_ids=inputs[3]),
                                inputs[1])
        loss.backward()
        losses.append(float(loss))
    assert losses[1] == pytest.approx(losses[0], rel=1e-3)
    for (name, cpu), gpu in zip(model.named_parameters(), gpu_model.parameters()):
        torch.testing.assert_close(gpu.grad.cpu(), cpu.grad, rtol=1e-2, atol=1e-4,
                                   msg=lambda m, n=name: f"grad {n}: {m}")


@pytest.mark.cuda
def test_a_compiled_model_runs_flex_attention_inside_its_graph():
    torch.manual_seed(0)
    model = TransformerLM(50, 64, 2, 4, 256, positions="rotary").cuda()
    document_ids, position_ids = (t.cuda() for t in _packed_rows(2, 256))
    x = torch.randint(0, 50, (2, 256), device="cuda")
    with torch.no_grad():
        eager = model(x, document_ids=document_ids, position_ids=position_ids)
    compiled = torch.compile(model)(x, document_ids=document_ids, position_ids=position_ids)
    torch.testing.assert_close(compiled, eager, rtol=1e-3, atol=1e-3)
    compiled.float().square().mean().backward()  # FlexAttention's backward, compiled too
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

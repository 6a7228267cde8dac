"""Packed batch mode: the Trainer on rows of whole documents (TrainingConfig.batch_mode)."""

import json

import numpy as np
import pytest
import torch

from g2c.cli import main
from g2c.pretraining import get_packed_batch, pack_documents
from g2c.training import Trainer, TrainingConfig
from g2c.transformer import TransformerLM

VOCAB, CONTEXT, BATCH, EOT = 24, 16, 4, 0


def document_stream(num_documents, seed):
    """Documents of 3–20 tokens joined by EOT; each counts up (ids 1..23, wrapping) from a
    random start, so all but its first token are predictable. Returns ids, offsets (D,)."""
    rng = np.random.default_rng(seed)
    parts, offsets, start = [], [], 0
    for length in rng.integers(3, 21, num_documents):  # some longer than T: split documents
        offsets.append(start)
        parts += [1 + (rng.integers(0, 23) + np.arange(length)) % 23, [EOT]]
        start += length + 1
    return np.concatenate(parts[:-1]).astype(np.uint16), np.asarray(offsets, dtype=np.int64)


TRAIN_IDS, TRAIN_OFFSETS = document_stream(300, seed=0)
VAL_IDS, _ = document_stream(40, seed=1)


def make_trainer(tmp_path=None, *, ids=TRAIN_IDS, documents=TRAIN_OFFSETS, eot_id=EOT,
                 **overrides):
    torch.manual_seed(0)
    model = TransformerLM(VOCAB, 32, 2, 4, CONTEXT, positions="rotary")
    values = dict(batch_size=BATCH, context_length=CONTEXT, learning_rate=3e-3, warmup_steps=5,
                  max_steps=40, eval_interval=10, log_interval=5, device="cpu",
                  batch_mode="packed")
    values.update(overrides)
    return Trainer(model, ids, VAL_IDS, TrainingConfig(**values),
                   train_documents=documents, eot_id=eot_id,
                   checkpoint_path=None if tmp_path is None else tmp_path / "checkpoint.pt",
                   metadata={"corpus": "counting-documents"}, quiet=True)


def test_packed_mode_trains():
    result = make_trainer().fit()
    assert result.stopped == "max_steps" and result.steps == 40
    step0 = result.initial_check["loss"]
    assert result.history["train"][-1][1] < 0.85 * step0
    assert result.final_val_loss < step0  # scored on the usual fixed validation windows


def test_the_model_sees_packed_rows_drawn_from_the_trainers_generator():
    trainer = make_trainer(max_steps=3, grad_accum_steps=2)
    model, seen = trainer.forward_model, []

    def spy(x, **kwargs):  # what precision.loss hands the model: x, targets, the packing ids
        seen.append((x, kwargs))
        return model(x, **kwargs)

    trainer.forward_model = spy
    trainer.fit()
    assert len(seen) == 3 * 2
    plan = pack_documents(TRAIN_OFFSETS, len(TRAIN_IDS), CONTEXT)
    generator = torch.Generator().manual_seed(trainer.config.seed)
    for x, kwargs in seen:
        expected = get_packed_batch(TRAIN_IDS, plan, BATCH, generator=generator, eot_id=EOT)
        assert torch.equal(x, expected.x) and torch.equal(kwargs["targets"], expected.y)
        documents, positions = kwargs["document_ids"], kwargs["position_ids"]
        assert torch.equal(documents, expected.document_ids)
        assert torch.equal(positions, expected.position_ids)
        # Each row numbers its documents 0, 1, 2, ...; at every boundary the position
        # restarts at 0 and nothing is predicted across it.
        assert (documents[:, 0] == 0).all() and (positions[:, 0] == 0).all()
        boundary = documents[:, 1:] != documents[:, :-1]
        assert ((documents[:, 1:] - documents[:, :-1])[boundary] == 1).all()
        assert (positions[:, 1:][boundary] == 0).all()
        assert (kwargs["targets"][:, :-1][boundary] == -100).all()
    assert any((kwargs["document_ids"].amax(dim=1) > 0).any() for _, kwargs in seen)


def test_rows_of_single_documents_take_the_plain_causal_path():
    # Two documents longer than a row: every packed row is one piece of one document.
    long_ids = (np.arange(2000) % 23 + 1).astype(np.uint16)
    single = make_trainer(ids=long_ids, documents=[0, 1000], eot_id=None)
    x, _, inputs = single.batches.draw(single.generator, single.device, 4)
    assert "document_ids" not in inputs and inputs["position_ids"].shape == x.shape
    mixed = make_trainer()  # short documents: rows hold several
    assert "document_ids" in mixed.batches.draw(mixed.generator, mixed.device, 4)[2]


def test_documents_mode_trains_on_windows_that_never_cross_a_document():
    # Documents of 20-40 tokens, all longer than a window (T + 1 = 17): no window may hold
    # a separator anywhere but as its very last target.
    rng = np.random.default_rng(3)
    parts, offsets, start = [], [], 0
    for length in rng.integers(20, 41, 150):
        offsets.append(start)
        parts += [1 + (rng.integers(0, 23) + np.arange(length)) % 23, [EOT]]
        start += length + 1
    ids = np.concatenate(parts[:-1]).astype(np.uint16)
    trainer = make_trainer(ids=ids, documents=offsets, batch_mode="documents", max_steps=30)
    seen = []
    model = trainer.forward_model

    def spy(x, **kwargs):
        seen.append(x)
        return model(x, **kwargs)

    trainer.forward_model = spy
    result = trainer.fit()
    assert not any((x == EOT).any() for x in seen)
    assert result.history["train"][-1][1] < 0.85 * result.initial_check["loss"]


def test_eot_loss_false_leaves_end_of_document_targets_out():
    def first_targets(trainer):
        return trainer.batches.draw(trainer.generator, trainer.device, trainer.config.batch_size)[1]

    with_eot = first_targets(make_trainer())
    without = first_targets(make_trainer(eot_loss=False))  # same seed: the same rows
    assert (with_eot == EOT).any() and not (without == EOT).any()
    assert torch.equal(without, torch.where(with_eot == EOT, -100, with_eot))


def test_resume_of_a_packed_run_is_bit_exact(tmp_path, interrupt_after):
    whole = make_trainer(tmp_path / "a", max_steps=16).fit()
    first = make_trainer(tmp_path / "b", max_steps=16)
    interrupt_after(first, 7)
    assert first.fit().stopped == "interrupted"
    resumed = make_trainer(tmp_path / "b", max_steps=16)
    resumed.resume(tmp_path / "b" / "checkpoint.pt")
    result = resumed.fit()
    assert result.steps == 16
    assert result.history["train"] == whole.history["train"]
    assert result.history["val"] == whole.history["val"]
    whole_model = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, whole_model[name]), name
    with pytest.raises(ValueError, match="batch_mode: 'packed' then, 'windows' now"):
        make_trainer(tmp_path / "b", max_steps=16, batch_mode="windows").resume(
            tmp_path / "b" / "checkpoint.pt")


def test_bad_input_raises_a_clear_value_error():
    with pytest.raises(ValueError, match=r"batch_mode must be one of 'windows', 'documents', "
                                         r"'packed'; got 'pack'"):
        TrainingConfig(batch_mode="pack")
    with pytest.raises(ValueError, match="eot_loss=False only applies to batch_mode='packed'"):
        TrainingConfig(eot_loss=False)
    with pytest.raises(ValueError, match=r"batch_mode='packed' needs the training split's "
                                         r"document offsets.*train_documents="):
        make_trainer(documents=None)
    with pytest.raises(ValueError, match="eot_loss=False needs .*eot_id="):
        make_trainer(eot_loss=False, eot_id=None)
    # Offsets of another stream are caught by the separator check on the first batch.
    shifted = np.concatenate([[0], TRAIN_OFFSETS[1:] + 1])
    with pytest.raises(ValueError, match="doc_offsets do not match ids"):
        make_trainer(documents=shifted, max_steps=1).fit()


def test_pretrain_cli_packed_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = "love night day sweet fair death heaven light moon stars".split()
    stories = tmp_path / "stories.jsonl"  # one short document per line
    lines = (json.dumps({"text": " ".join(rng.choice(words, rng.integers(3, 12)))})
             for _ in range(300))
    stories.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    assert main(["pretrain", "--corpus", str(stories), "--data-dir", str(tmp_path / "data"),
                 "--out", str(out), "--batch-size", "4", "--context-length", "32",
                 "--max-steps", "2", "--quiet", "--batch-mode", "packed"]) == 0
    assert "packed:" in capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["batch_mode"] == "packed" and manifest["steps"] == 2
    assert manifest["packing"]["documents"] == manifest["corpus"]["splits"]["train"]["documents"]

"""Checkpoints: atomic, weights-only, every RNG; --resume continues bit-exactly; Ctrl-C saves."""

import os
import pickle
import random
import signal

import numpy as np
import pytest
import torch

from g2c.training import Trainer, TrainingConfig
from g2c.training import batches as batches_module
from g2c.training.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from g2c.transformer import TransformerLM

VOCAB, CONTEXT = 24, 16


def stream(n=6000):
    rng = np.random.default_rng(0)
    ids = np.tile(rng.integers(0, VOCAB, 11), n // 11 + 1)[:n]
    noise = rng.random(n) < 0.1
    ids[noise] = rng.integers(0, VOCAB, noise.sum())
    return ids.astype(np.uint16)


def make_trainer(tmp_path, max_steps=30, metadata=None, model_options=None, **overrides):
    torch.manual_seed(0)
    model = TransformerLM(VOCAB, 32, 2, 4, CONTEXT, positions="rotary", mlp="swiglu",
                          **(model_options or {}))
    values = dict(batch_size=4, context_length=CONTEXT, learning_rate=3e-3, warmup_steps=5,
                  max_steps=max_steps, eval_interval=10, log_interval=5, device="cpu")
    values.update(overrides)
    ids = stream()
    return Trainer(model, ids[:5000], ids[5000:], TrainingConfig(**values),
                   checkpoint_path=tmp_path / "checkpoint.pt",
                   metadata=metadata or {"corpus": "pattern-11"}, quiet=True)


@pytest.mark.parametrize("options", [
    {},
    # Muon's momentum buffers and the QK-norm gains are checkpointed like AdamW's state.
    {"model_options": {"qk_norm": True}, "optimizer": "muon", "muon_learning_rate": 0.03},
], ids=["adamw", "muon"])
def test_resume_continues_bit_exactly(tmp_path, interrupt_after, options):
    whole = make_trainer(tmp_path / "a", **options).fit()
    first = make_trainer(tmp_path / "b", checkpoint_interval=12, **options)
    interrupt_after(first, 12)
    partial = first.fit()  # Ctrl-C in step 12; step 12 is a checkpoint step, so also a check
    assert partial.stopped == "interrupted" and partial.steps == 12
    assert partial.final_val_loss is None

    resumed = make_trainer(tmp_path / "b", **options)
    resumed.resume(tmp_path / "b" / "checkpoint.pt")
    result = resumed.fit()
    assert result.steps == 30
    # The same batches in the same order: identical loss curves and final weights.
    assert result.history["train"] == whole.history["train"]
    assert result.history["val"] == whole.history["val"]
    assert result.final_val_loss == whole.final_val_loss
    whole_model = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, whole_model[name]), name


def test_resume_refuses_another_config_or_corpus(tmp_path):
    make_trainer(tmp_path, max_steps=5).fit()
    path = tmp_path / "checkpoint.pt"
    with pytest.raises(ValueError, match=r"different run.*learning_rate: 0.003 then, 0.001 now"):
        make_trainer(tmp_path, max_steps=5, learning_rate=1e-3).resume(path)
    with pytest.raises(ValueError, match=r"corpus: 'pattern-11' then, 'other' now"):
        make_trainer(tmp_path, max_steps=5, metadata={"corpus": "other"}).resume(path)
    # Presentation-only settings may change.
    make_trainer(tmp_path, max_steps=5, log_interval=1).resume(path)


def test_ctrl_c_saves_a_checkpoint_and_returns(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, max_steps=1000)
    real_batch = batches_module.get_lm_batch
    calls = {"n": 0}

    def batch_then_ctrl_c(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C mid-step
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(batches_module, "get_lm_batch", batch_then_ctrl_c)
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a background job
    result = trainer.fit()
    # The step finishes, and the run stops at the next check (log_interval = 5: step 10).
    assert result.stopped == "interrupted" and result.steps == 10
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 10
    assert signal.getsignal(signal.SIGINT) is handler_before  # the handler is restored


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 1  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left


def test_loading_never_unpickles_arbitrary_objects(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as file:
        pickle.dump({"format": "g2c-checkpoint", "version": 1, "x": Payload()}, file,
                    protocol=2)
    with pytest.raises(ValueError, match="not a readable g2c checkpoint"):
        load_checkpoint(path)
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a g2c checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trips_every_stream():
    generator = torch.Generator().manual_seed(5)
    state = capture_rng_state(generator)
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    restore_rng_state(state, generator)
    second = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and torch.equal(first[3], second[3])

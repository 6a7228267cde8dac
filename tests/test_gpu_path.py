"""The GPU path (issue 16): device choice, pinned copies, TF32 and determinism, checked on the
CPU where the logic allows it (CPU and "meta" tensors), and on CUDA where it does not."""

import os

import numpy as np
import pytest
import torch

from g2c.pretraining import get_lm_batch
from g2c.pretraining.windows import move_batch, needs_pinning
from g2c.training import Trainer, TrainingConfig
from g2c.training.cuda_math import CUBLAS_WORKSPACE, configure_math
from g2c.training.distributed import DistributedContext
from g2c.transformer import TransformerLM, generate

VOCAB, CONTEXT = 24, 16


def stream(n=6000):
    rng = np.random.default_rng(0)
    return np.tile(rng.integers(0, VOCAB, 11), n // 11 + 1)[:n].astype(np.uint16)


def tiny_model():
    torch.manual_seed(0)
    return TransformerLM(VOCAB, 32, 2, 4, CONTEXT)


def config(**overrides):
    values = dict(batch_size=4, context_length=CONTEXT, warmup_steps=2, max_steps=3,
                  eval_interval=100, log_interval=100, val_tokens=256)
    return TrainingConfig(**{**values, **overrides})


@pytest.fixture
def restore_math_mode(monkeypatch):
    """configure_math changes process-wide switches; put them back after the test."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (torch.backends.cuda.matmul.fp32_precision, torch.are_deterministic_algorithms_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.backends.cuda.matmul.fp32_precision = saved[0]
    torch.use_deterministic_algorithms(saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]


# ---- pinned copies: only a host tensor bound for a GPU is pinned --------------------------


@pytest.mark.parametrize("source, target, expected", [
    ("cpu", "cuda", True), ("cpu", "cuda:1", True), ("cpu", "cpu", False),
    ("meta", "cuda", False), ("cpu", "meta", False),
])
def test_only_host_tensors_bound_for_a_gpu_are_pinned(source, target, expected):
    assert needs_pinning(torch.zeros(2, device=source), target) is expected


def test_move_batch_keeps_values_and_leaves_a_tensor_alone_without_a_device():
    batch = torch.arange(6).view(2, 3)
    assert move_batch(batch, None) is batch
    assert torch.equal(move_batch(batch, "cpu"), batch)
    moved = move_batch(batch, "meta")
    assert moved.device.type == "meta" and moved.shape == batch.shape


@pytest.mark.cuda
def test_batches_of_a_stream_already_on_the_gpu_are_not_pinned():
    ids = torch.arange(100, device="cuda")
    x, y = get_lm_batch(ids, 4, 8, device="cuda", generator=torch.Generator().manual_seed(0))
    assert x.is_cuda and torch.equal(y, x + 1)
    host_x, _ = get_lm_batch(ids.cpu(), 4, 8, device="cuda",
                             generator=torch.Generator().manual_seed(0))
    assert torch.equal(host_x, x)  # the pinned copy from the host carries the same windows


# ---- the trainer's device is the context's -------------------------------------------------


def test_the_trainer_runs_on_its_context_device_not_the_config_device():
    # Under torchrun, config.device says "cuda" while rank r's context holds cuda:r.
    context = DistributedContext(device=torch.device("meta"))
    trainer = Trainer(tiny_model(), stream()[:5000], stream()[5000:], config(device="cpu"),
                      context=context, quiet=True)
    assert trainer.device.type == "meta"
    assert {p.device.type for p in trainer.model.parameters()} == {"meta"}


# ---- TF32 and determinism ------------------------------------------------------------------


def test_on_a_cpu_nothing_changes_unless_determinism_is_asked(restore_math_mode):
    assert configure_math(torch.device("cpu"), deterministic=False) == {
        "tf32": False, "deterministic": False}
    assert torch.backends.cuda.matmul.fp32_precision != "tf32"
    assert configure_math("cpu", deterministic=True) == {"tf32": False, "deterministic": True}
    assert torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ  # a CUDA-only setting


def test_on_cuda_tf32_is_on_and_determinism_sets_what_cuda_needs(restore_math_mode):
    # The switches are plain process state: a CPU build of torch can set them too.
    torch.backends.cudnn.benchmark = True
    assert configure_math("cuda", deterministic=True) == {"tf32": True, "deterministic": True}
    assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_deterministic_must_be_a_bool():
    with pytest.raises(TypeError, match="deterministic must be True or False; got 'yes'"):
        configure_math("cpu", deterministic="yes")
    with pytest.raises(TypeError, match="deterministic"):
        config(deterministic=1)


def test_a_deterministic_cpu_run_trains_and_says_so(restore_math_mode):
    # Every op of a training step has a deterministic kernel (or the run would raise).
    trainer = Trainer(tiny_model(), stream()[:5000], stream()[5000:],
                      config(device="cpu", deterministic=True, batch_mode="packed"),
                      train_documents=np.arange(0, 5000, 37), eot_id=None, quiet=True)
    result = trainer.fit()
    assert result.steps == 3 and trainer.math == {"tf32": False, "deterministic": True}


@pytest.mark.cuda
def test_deterministic_cuda_runs_repeat_bit_for_bit(restore_math_mode):
    runs = []
    for _ in range(2):
        trainer = Trainer(tiny_model(), stream()[:5000], stream()[5000:],
                          config(device="cuda", deterministic=True, max_steps=5), quiet=True)
        result = trainer.fit()
        runs.append((result.final_val_loss, trainer.model_state_dict()))
    assert trainer.math == {"tf32": True, "deterministic": True}
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])


# ---- generation on the GPU -----------------------------------------------------------------


@pytest.mark.cuda
def test_greedy_generation_on_cuda_matches_the_cpu():
    model = tiny_model()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 2:
                parameter.normal_(0.0, 0.3)
    cpu = generate(model, [1, 2, 3], 30, temperature=0)
    assert generate(model.cuda(), [1, 2, 3], 30, temperature=0) == cpu
    sampled = generate(model, [1, 2, 3], 30, generator=torch.Generator().manual_seed(0))
    assert len(sampled) == 30 and all(0 <= i < VOCAB for i in sampled)

"""``g2c pretrain`` on 2 CPU processes (gloo, loopback only): artifact, bit-exact resume, refusal.

Each test starts real processes with torchrun, so they are the slow end of the
suite (~5-9 s each); the models and corpora are tiny.
"""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from g2c.cli import main

WORKER = Path(__file__).with_name("distributed_resume_worker.py")


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, write_play):
    """A finished 4-step ``g2c pretrain --nproc 2`` run on a small play: (out dir, flags)."""
    root = tmp_path_factory.mktemp("dist")
    write_play(root / "play.txt", lines=300, per_line=6)
    flags = ["--corpus", str(root / "play.txt"), "--data-dir", str(root / "data"),
             "--out", str(root / "run"), "--batch-size", "4", "--context-length", "32",
             "--eval-interval", "2", "--max-steps", "4", "--quiet",
             "--device", "cpu"]  # gloo on CPU cores: runs on a machine with 0 or 1 GPU too
    done = subprocess.run([sys.executable, "-m", "g2c", "pretrain", "--nproc", "2", *flags],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "run", flags, done.stderr


def test_nproc_2_writes_one_artifact_with_world_size_2(two_process_run):
    out, _, stderr = two_process_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["steps"] == 4
    assert math.isfinite(manifest["final_val_loss"])
    # The global batch is B·W windows: 4 steps x 4 windows x 32 tokens x 2 ranks.
    assert manifest["tokens_seen"] == 4 * 4 * 32 * 2
    assert stderr.count("final val loss") == 1  # rank 0 alone reports
    assert (out / "weights.safetensors").exists() and (out / "samples.txt").exists()


def test_resume_with_another_world_size_is_refused_naming_both(two_process_run, capsys):
    out, flags, _ = two_process_run
    before = (out / "manifest.json").read_text()
    assert main(["pretrain", *flags, "--resume"]) == 2
    error = capsys.readouterr().err
    assert "world size 2" in error and "world size 1" in error and "--nproc 2" in error
    assert (out / "manifest.json").read_text() == before


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_process_resume_continues_bit_exactly(tmp_path, mode):
    """Stopped at step 3 by one rank, resumed to step 6 == 6 steps without a break."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(WORKER), str(tmp_path)] + (["--fsdp"] if mode == "fsdp"
                                                                     else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "interrupted at step 3" in done.stderr and "resuming at step 3" in done.stderr
    result = torch.load(tmp_path / "result.pt")
    assert result["a"].keys() == result["c"].keys()
    for name in result["a"]:
        assert torch.equal(result["a"][name], result["c"][name]), name
    assert result["val"][0] == result["val"][1] and math.isfinite(result["val"][0])
    assert result["tokens"] == [6 * 2 * 2 * 16 * 2] * 2  # steps x B x accum x T x W


def test_rank_0_preparing_longer_than_the_collective_timeout_is_fine(tmp_path):
    """Rank 0 tokenizes (BPE on TinyShakespeare six times over: ~5 s) while rank 1 waits;
    the wait is not bounded by --dist-timeout (3 s here), which guards the training
    collectives. (At 1 s, and one copy, a training collective on a busy machine sometimes
    outlasted the timeout, and preparation barely did.)"""
    shakespeare = Path(__file__).resolve().parents[2] / "shared/data/tinyshakespeare.txt"
    corpus = tmp_path / "six_times.txt"
    corpus.write_text(shakespeare.read_text(encoding="utf-8") * 6, encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "g2c", "pretrain", "--nproc", "2", "--device", "cpu",
         "--corpus", str(corpus), "--tokenizer", "bpe", "--vocab-size", "300",
         "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
         "--layers", "1", "--width", "32", "--heads", "2", "--batch-size", "2",
         "--context-length", "32", "--max-steps", "1", "--dist-timeout", "3", "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["world_size"] == 2
    prepared = next((tmp_path / "data").glob("*/manifest.json"))
    assert json.loads(prepared.read_text())["tokenizer"]["kind"] == "bpe"
    assert time.perf_counter() - started > 3  # longer than --dist-timeout, as intended

"""Training throughput of 2 processes (DDP, FSDP2) vs 1, on this machine's CPU cores.

    python benchmarks/bench_scaling.py

One training step = forward, backward, gradient averaging, AdamW, on the
default ``g2c pretrain`` model size (C=128, 2 layers, 4 heads, T=64, V=65)
with B=16 windows per process. Throughput is windows per second summed over
processes, so "vs baseline" is the speed-up of the whole global batch.

Everything runs inside one 2-process torchrun launch (gloo on 127.0.0.1): the
single-process baselines are timed on rank 0 while rank 1 sleeps at a
barrier, and the setups take turns in short interleaved rounds, keeping each
one's best — so a busy shared machine slows all setups alike instead of
whichever happened to run at the wrong moment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_time  # noqa: E402

from g2c.pretraining import get_lm_batch  # noqa: E402
from g2c.training.distributed import (  # noqa: E402
    DistributedContext,
    destroy_distributed,
    init_distributed,
    rank_generator,
)
from g2c.training.parallel import wrap_model  # noqa: E402
from g2c.training.precision import TrainingPrecision  # noqa: E402
from g2c.transformer import TransformerLM  # noqa: E402

VOCAB, WIDTH, LAYERS, HEADS, CONTEXT, BATCH = 65, 128, 2, 4, 64, 16
REPEATS, WARMUP, ROUNDS = 5, 1, 8
SETUPS = (  # name, processes, threads per process, wrapper
    ("1 process, 2 threads (baseline)", 1, 2, None),
    ("1 process, 1 thread", 1, 1, None),
    ("2 processes DDP, 1 thread each", 2, 1, "ddp"),
    ("2 processes FSDP2, 1 thread each", 2, 1, "fsdp"),
)


def make_step(context: DistributedContext, wrapper: str | None):
    """A closure running one training step of a fresh model (wrapped, or this rank's own)."""
    torch.manual_seed(0)
    model = TransformerLM(VOCAB, WIDTH, LAYERS, HEADS, CONTEXT)
    if wrapper is not None:
        model = wrap_model(model, context, fsdp=wrapper == "fsdp")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    precision = TrainingPrecision("fp32", "cpu")
    stream = torch.randint(0, VOCAB, (200_000,), generator=torch.Generator().manual_seed(0))
    generator = rank_generator(0, context.rank)

    def step() -> None:
        x, y = get_lm_batch(stream, BATCH, CONTEXT, generator=generator)
        precision.backward(precision.loss(model, x, y))
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)

    return step


def measure_on_ranks() -> dict | None:
    """Best seconds per step of every setup; returned on rank 0 (None elsewhere)."""
    context = init_distributed(device="cpu")
    try:
        steps = {name: make_step(context, wrapper) for name, _, _, wrapper in SETUPS}
        best = {name: float("inf") for name in steps}
        for _ in range(ROUNDS):
            for name, processes, threads, _ in SETUPS:
                torch.set_num_threads(threads)
                if processes == 2 or context.is_main:
                    seconds = best_time(steps[name], repeats=REPEATS, warmup=WARMUP)
                    best[name] = min(best[name], seconds)
                context.barrier()  # rank 1 waits (asleep) while rank 0 runs alone
        return best if context.is_main else None
    finally:
        destroy_distributed()


def main() -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", __file__, "--rank-worker"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"torchrun failed ({result.returncode}):\n{result.stderr[-3000:]}")
    best = json.loads(result.stdout.strip().splitlines()[-1])
    baseline, one_thread = best[SETUPS[0][0]], best[SETUPS[1][0]]
    print(f"B={BATCH} windows/process, T={CONTEXT}, C={WIDTH}, {LAYERS} layers; "
          f"{os.cpu_count()} CPU cores; best of {ROUNDS} interleaved rounds")
    print(f"{'setup':34s} {'ms/step':>8s} {'windows/s':>10s} {'vs baseline':>12s} "
          f"{'vs 1 thread':>12s}")
    for name, processes, _, _ in SETUPS:
        seconds = best[name]
        print(f"{name:34s} {seconds * 1e3:8.1f} {processes * BATCH / seconds:10.0f} "
              f"{processes * baseline / seconds:11.2f}x {processes * one_thread / seconds:11.2f}x")


if __name__ == "__main__":
    if sys.argv[1:] == ["--rank-worker"]:
        best = measure_on_ranks()
        if best is not None:
            print(json.dumps(best), flush=True)
    else:
        main()

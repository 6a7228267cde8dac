"""Training throughput of 2 processes (DDP, FSDP2) vs 1, on this machine's CPU cores.

    python benchmarks/bench_scaling.py [--rounds 5]

One training step = forward, backward, gradient averaging, AdamW, on the
default track's model (README: ShakespeareLM, ``get_track("ShakespeareLM")``:
C=128, 2 layers, 4 heads, rotary, SwiGLU, T=128, V of the built-in
Shakespeare's characters) with its B=16 windows per process, in fp32 (what
``--precision auto`` picks on a CPU without native bf16). Throughput is
windows per second summed over processes, so the speed-up is that of the
whole global batch.

Everything runs inside one 2-process torchrun launch (gloo on 127.0.0.1): the
single-process setups are timed on rank 0 while rank 1 sleeps at a barrier
(the baseline: one process, one thread, i.e. one core),
and the setups take turns in interleaved rounds (per round the fastest of a
few steps of each), so a busy shared machine slows all setups alike. Each
speed-up is per round against the baseline, printed as median (min-max).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_time, spread

from g2c.app.tracks import get_track
from g2c.corpora import shakespeare_documents
from g2c.pretraining import get_lm_batch
from g2c.tokenizer import CharTokenizer
from g2c.training.distributed import (
    DistributedContext,
    destroy_distributed,
    init_distributed,
    rank_generator,
)
from g2c.training.parallel import wrap_model
from g2c.training.precision import TrainingPrecision

TRACK = get_track("ShakespeareLM")
BATCH, CONTEXT = TRACK.training.batch_size, TRACK.training.context_length
REPEATS, WARMUP = 3, 1
SETUPS = (  # name, processes, threads per process, wrapper
    ("1 process, 1 thread (baseline)", 1, 1, None),
    ("1 process, 2 threads", 1, 2, None),
    ("2 processes DDP, 1 thread each", 2, 1, "ddp"),
    ("2 processes FSDP2, 1 thread each", 2, 1, "fsdp"),
)


def make_step(context: DistributedContext, wrapper: str | None, vocab: int):
    """A closure running one training step of a fresh model (wrapped, or this rank's own)."""
    torch.manual_seed(0)
    model = replace(TRACK.model, vocab_size=vocab).build()
    if wrapper is not None:
        model = wrap_model(model, context, fsdp=wrapper == "fsdp")
    training = TRACK.training
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate,
                                  betas=(training.beta1, training.beta2),
                                  weight_decay=training.weight_decay)
    precision = TrainingPrecision("fp32", "cpu")
    stream = torch.randint(0, vocab, (200_000,), generator=torch.Generator().manual_seed(0))
    generator = rank_generator(0, context.rank)

    def step() -> None:
        x, y = get_lm_batch(stream, BATCH, CONTEXT, generator=generator)
        precision.backward(precision.loss(model, x, y))
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)

    return step


def measure_on_ranks(rounds: int) -> dict | None:
    """Per-round best seconds per step of every setup; returned on rank 0 (None elsewhere)."""
    vocab = CharTokenizer.train(shakespeare_documents()).vocab_size
    context = init_distributed(device="cpu")
    try:
        steps = {name: make_step(context, wrapper, vocab) for name, _, _, wrapper in SETUPS}
        times = {name: [] for name in steps}
        for index in range(rounds):
            for name, processes, threads, _ in SETUPS[:: 1 if index % 2 == 0 else -1]:
                torch.set_num_threads(threads)
                if processes == 2 or context.is_main:
                    times[name].append(best_time(steps[name], repeats=REPEATS, warmup=WARMUP))
                context.barrier()  # rank 1 waits (asleep) while rank 0 runs alone
        return {"vocab": vocab, "times": times} if context.is_main else None
    finally:
        destroy_distributed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", __file__, "--rank-worker", str(args.rounds)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"torchrun failed ({result.returncode}):\n{result.stderr[-3000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    times = measured["times"]
    print(f"ShakespeareLM model (V={measured['vocab']}), B={BATCH} windows/process, T={CONTEXT}, "
          f"fp32; {os.cpu_count()} CPU cores; throughput of the global batch vs the baseline's, "
          f"median (min-max) of {args.rounds} interleaved rounds, each the fastest of {REPEATS} "
          f"steps")
    for name, processes, _, _ in SETUPS:
        speedup = [processes * base / t for t, base in zip(times[name], times[SETUPS[0][0]])]
        print(f"  {name:34s} {spread(speedup)}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rank-worker"]:
        result = measure_on_ranks(int(sys.argv[2]))
        if result is not None:
            print(json.dumps(result), flush=True)
    else:
        main()

"""What the logits' output bias buys ShakespeareLM: loss at fixed steps and step speed.

    python benchmarks/bench_output_bias.py                  # 3 seeds x 700 steps, 5 speed rounds
    python benchmarks/bench_output_bias.py --seeds 0 1 2 3 --steps 700 --rounds 7

``g2c export`` needs ``output_bias=False`` (no stock transformers decoder adds
a learned bias to tied logits), so the question was whether ShakespeareLM's
default could drop it for free (docs/benchmarks.md: it could, and now does).
Everything else is the track's own recipe (model, optimizer, schedule,
precision) on TinyShakespeare, char level.

1. **Loss**: for each seed, both variants from the same initial weights (the
   bias starts at zero and is the only difference) and the same batches,
   trained ``--steps`` steps; final validation loss on the track's fixed
   validation windows. Fixed steps, so the machine's speed does not matter.
2. **Speed**: both variants built side by side in one process with the
   trainer's own step parts (precision, fused AdamW, CPU tuning, fused loss);
   ``--rounds`` interleaved rounds (benchmarks/timing.py), each timing
   ``--speed-steps`` steps of each variant. Per round the ratio of their
   fastest steps; printed as median (min-max) over the rounds.

``--seeds`` with no value skips the loss runs, ``--rounds 0`` the speed rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch
from timing import interleaved, spread

from g2c.app.tracks import get_track
from g2c.corpora import prepare_corpus
from g2c.pretraining import get_lm_batch
from g2c.training import Trainer
from g2c.training.cpu_tuning import CpuTuning
from g2c.training.optimizer import build_optimizer
from g2c.training.precision import TrainingPrecision

VARIANTS = {"output_bias=True": True, "output_bias=False": False}


def train(prepared, *, output_bias: bool, seed: int, steps: int, threads: int):
    track = get_track("ShakespeareLM")
    torch.manual_seed(seed)
    model = replace(track.model, vocab_size=prepared.vocab_size, output_bias=output_bias).build()
    config = replace(track.training, max_steps=steps, max_time=None, eval_interval=10**9,
                     checkpoint_interval=None, seed=seed, threads=threads)
    return Trainer(model, prepared.train, prepared.val, config, quiet=True).fit()


def report_losses(prepared, args) -> None:
    print(f"\nfinal validation loss after {args.steps} steps:")
    losses = {name: [] for name in VARIANTS}
    for seed in args.seeds:
        for name, output_bias in VARIANTS.items():
            result = train(prepared, output_bias=output_bias, seed=seed, steps=args.steps,
                           threads=args.threads)
            losses[name].append(result.final_val_loss)
            print(f"  seed {seed}  {name:<26} {result.final_val_loss:.4f} "
                  f"({result.val_tokens:,} validation tokens)", flush=True)
    for name, values in losses.items():
        print(f"  {name:<34} mean {statistics.mean(values):.4f}  "
              f"[{', '.join(f'{v:.4f}' for v in values)}]")
    base, other = losses.values()
    differences = [b - a for a, b in zip(base, other)]
    print(f"  paired difference (False - True): mean {statistics.mean(differences):+.4f}, "
          f"per seed [{', '.join(f'{d:+.4f}' for d in differences)}]")


class StepTimer:
    """One variant's training step, made of the trainer's own parts (precision, AdamW, CPU
    tuning, fused loss), so two variants can alternate every few steps in one process."""

    def __init__(self, prepared, *, output_bias: bool, tuning: CpuTuning):
        track = get_track("ShakespeareLM")
        self.training = track.training
        torch.manual_seed(0)
        self.model = replace(track.model, vocab_size=prepared.vocab_size,
                             output_bias=output_bias).build()
        self.model.check_inputs = False  # as in the trainer
        device = torch.device("cpu")
        self.precision = TrainingPrecision(self.training.precision, device,
                                           native_cpu_bf16=tuning.native_bf16)
        tuning.prepare(self.model, self.precision.precision)
        self.optimizer = build_optimizer(self.model, self.training, device)
        self.train_ids = prepared.train
        self.generator = torch.Generator().manual_seed(0)

    def seconds_per_step(self, steps: int) -> float:
        """The fastest of ``steps`` timed training steps (after one untimed step): on a shared
        machine noise only ever adds time, so the minimum is the least noisy estimate."""
        times = []
        for _ in range(steps + 1):
            x, y = get_lm_batch(self.train_ids, self.training.batch_size,
                                self.training.context_length, generator=self.generator)
            start = time.perf_counter()
            loss = self.precision.loss(self.model, x, y, fused=True)
            self.precision.backward(loss)
            self.precision.unscale_and_clip(self.optimizer, max_grad_norm=self.training.grad_clip)
            self.precision.step(self.optimizer)
            self.optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - start)
        return min(times[1:])


def report_speed(prepared, args) -> None:
    torch.set_num_threads(args.threads)
    tuning = CpuTuning(get_track("ShakespeareLM").training.cpu_tuning, torch.device("cpu"))
    timers = {name: StepTimer(prepared, output_bias=output_bias, tuning=tuning)
              for name, output_bias in VARIANTS.items()}
    with tuning.running(max_time=None, threads=args.threads):  # denormals flushed
        times = interleaved({name: (lambda t=timer: t.seconds_per_step(args.speed_steps))
                             for name, timer in timers.items()}, args.rounds)
    ratio = [a / b for a, b in zip(times["output_bias=False"], times["output_bias=True"])]
    print(f"\nstep time of output_bias=False / True ({timers['output_bias=False'].precision.precision}"
          f"): {spread(ratio, '.3f')}, median (min-max) of {args.rounds} interleaved rounds, "
          f"each the fastest of {args.speed_steps} steps; load {os.getloadavg()[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared/data/tinyshakespeare.txt"))
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=700, help="training steps per loss run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds")
    parser.add_argument("--speed-steps", type=int, default=10,
                        help="timed steps per variant per round")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: on a shared 2-core machine two threads "
                        "collapse whenever another process runs)")
    args = parser.parse_args()
    if not Path(args.corpus).is_file():
        print(f"corpus {args.corpus} not found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="g2c-output-bias-") as scratch:
        prepared = prepare_corpus(args.corpus, scratch, tokenizer="char", progress=False)
        print(f"{args.corpus}: {len(prepared.train):,} train / {len(prepared.val):,} val tokens, "
              f"V={prepared.vocab_size}; torch {torch.__version__}, {args.threads} thread(s); "
              f"load {os.getloadavg()[0]:.2f}", flush=True)

        if args.seeds:
            report_losses(prepared, args)
        if args.rounds:
            report_speed(prepared, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What Muon costs per training step: g2c's fp32 Muon and torch.optim.Muon against AdamW.

    python benchmarks/bench_muon_step.py                # 5 interleaved rounds of 20 steps

One ShakespeareLM model (the track's architecture, V=65) trains on random
(16, 128) batches with each optimizer in turn, round after round. A step is
forward, backward and the optimizer step; each round reports the median step
time of its 20 steps per optimizer, and the table shows each optimizer's time
as a ratio to AdamW's in the same round: median (min-max) over rounds.
``torch.optim.Muon`` (PyTorch 2.13) runs its Newton–Schulz products in bf16,
which a CPU without native bf16 only emulates; g2c's keeps fp32.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch
from torch import nn

from g2c.app.tracks import get_track
from g2c.training.cpu_tuning import native_cpu_bf16
from g2c.training.optimizer import build_optimizer


def torch_muon(model: nn.Module, training) -> list[torch.optim.Optimizer]:
    """torch.optim.Muon for the linear weights and AdamW for the rest, as g2c splits them."""
    matrices = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    ids = {id(p) for p in matrices}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [torch.optim.Muon(matrices, lr=training.muon_learning_rate,
                             weight_decay=training.weight_decay),
            torch.optim.AdamW(rest, lr=training.learning_rate, fused=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    track = get_track("ShakespeareLM")
    training = track.training
    builders = {
        "AdamW (fused)": lambda m: [build_optimizer(m, replace(training, optimizer="adamw"),
                                                    torch.device("cpu"))],
        "g2c Muon (fp32)": lambda m: [build_optimizer(m, training, torch.device("cpu"))],
        "torch.optim.Muon (bf16)": lambda m: torch_muon(m, training),
    }
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 65, (training.batch_size, training.context_length), generator=generator)
    y = torch.randint(0, 65, x.shape, generator=generator)
    ratios: dict[str, list[float]] = {name: [] for name in builders}
    for _ in range(args.rounds):
        times = {}
        for name, build in builders.items():
            torch.manual_seed(0)
            model = replace(track.model, vocab_size=65).build()
            optimizers = build(model)
            steps = []
            for _ in range(args.steps + 2):  # two warm-up steps, not timed
                start = time.perf_counter()
                model(x, targets=y).backward()
                for optimizer in optimizers:
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                steps.append(time.perf_counter() - start)
            times[name] = statistics.median(steps[2:])
        for name in builders:
            ratios[name].append(times[name] / times["AdamW (fused)"])
    print(f"{torch.get_num_threads()} threads, native CPU bf16: {native_cpu_bf16()}; "
          f"step time / AdamW's, median (min-max) of {args.rounds} interleaved rounds")
    for name, values in ratios.items():
        print(f"{name:26s} {statistics.median(values):5.2f} ({min(values):.2f}-{max(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

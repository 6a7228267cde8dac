"""lm_cross_entropy (our custom-autograd loss) vs torch.nn.functional.cross_entropy.

    python benchmarks/bench_loss.py [--rounds 5] [--threads 1]

Forward + backward of the loss alone on (B·T, V) logits, at V = 65 (char
level), 8,192 and 50,304 (GPT-2 sized). Time ratios come from one process,
g2c and torch in interleaved rounds (per round the fastest of a few calls of
each), printed as median (min-max) over the rounds; peak memory (which does
not drift with the machine's speed) from one fresh subprocess per variant (peak RSS growth during the
measured call, after a tiny warm-up call of the same variant), so one
measurement cannot hide inside another's freed pages.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best, spread

from g2c.pretraining import lm_cross_entropy

# (B, T, V): B·T positions, V classes
CASES = [(32, 256, 65), (32, 256, 8192), (8, 256, 50304)]
VARIANTS = {
    "g2c": lm_cross_entropy,
    "torch": lambda logits, targets: F.cross_entropy(logits.flatten(0, 1), targets.flatten()),
}


def make_inputs(batch: int, time: int, vocab: int):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(batch, time, vocab, generator=generator).requires_grad_(True)
    targets = torch.randint(0, vocab, (batch, time), generator=generator)
    return logits, targets


def step(loss_fn, logits, targets) -> None:
    loss_fn(logits, targets).backward()
    logits.grad = None


def peak_rss_kib() -> int:
    """This process's peak resident set size (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM not found in /proc/self/status (Linux only)")


def peak_rss_growth_mib(variant: str, case: tuple[int, int, int]) -> float:
    """Peak RSS growth of one forward+backward, in a fresh interpreter."""
    # VmHWM (not ru_maxrss, which Linux carries over from the parent across
    # fork+exec) is the child's own high-water mark.
    code = (
        "import sys; sys.path.insert(0, 'benchmarks');"
        "from bench_loss import *;"
        # A tiny call first loads the kernels' code and starts the thread pool,
        # one-time costs that would otherwise dwarf the V = 65 case's 2 MiB.
        f"step(VARIANTS[{variant!r}], *make_inputs(1, 8, {case[2]}));"
        f"logits, targets = make_inputs(*{case!r});"
        "before = peak_rss_kib();"
        f"step(VARIANTS[{variant!r}], logits, targets);"
        "print((peak_rss_kib() - before) / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine two threads collapse "
                        "whenever another process runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()}  (forward+backward of the loss alone); g2c / torch "
          f"time: median (min-max) of {args.rounds} interleaved rounds")
    print(f"{'B·T':>6} {'V':>6} {'g2c / torch time':>18} {'g2c MiB':>8} {'torch MiB':>9}")
    for case in CASES:
        logits, targets = make_inputs(*case)
        fns = {name: (lambda fn=fn, x=logits, y=targets: step(fn, x, y))
               for name, fn in VARIANTS.items()}
        times = interleaved_best(fns, args.rounds, repeats=100 if case[2] < 1000 else 3)
        ratio = [g / t for g, t in zip(times["g2c"], times["torch"])]
        memory = {name: peak_rss_growth_mib(name, case) for name in VARIANTS}
        print(f"{case[0] * case[1]:>6} {case[2]:>6} {spread(ratio):>18} "
              f"{memory['g2c']:>8.0f} {memory['torch']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()

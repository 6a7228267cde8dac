"""LM head + loss: chunked g2c linear_cross_entropy vs materialised logits vs PyTorch's.

    python benchmarks/bench_linear_cross_entropy.py [--rounds 5]          # all three parts
    python benchmarks/bench_linear_cross_entropy.py headline              # or: crossover, chunks

Every variant runs the same forward+backward of ``hidden (N, d) -> logits
(N, V) -> mean cross-entropy`` with a bias, gradients for hidden, weight and
bias, in fp32 on the CPU:

* ``materialised``       g2c.nn.cross_entropy on ``F.linear`` logits (our plain path);
* ``torch-materialised`` PyTorch's reference ``F.linear_cross_entropy`` (options=None);
* ``torch-chunked``      PyTorch 2.13's ``F.linear_cross_entropy(...,
  options=LinearCrossEntropyOptions())``;
* ``g2c``                ``g2c.nn.linear_cross_entropy`` with its defaults;
* ``g2c+z``              the same with z_loss=1e-4.

Memory is measured for all five, time for materialised, torch-chunked and g2c.

headline:  (N, d, V) = (8192, 768, 50304). Peak memory is measured in a fresh
           interpreter per variant: peak RSS (VmHWM) during the step minus the
           RSS just before it, after a small warm-up call has loaded the kernels;
           it includes the .grad tensors the step leaves behind (~180 MiB).
           Memory does not drift with the machine's speed: one run each.
crossover: plain path vs chunked path (default chunk) from a char-level head
           to GPT-2's: where chunking stops costing time (PLAIN_PATH_MAX_LOGITS).
chunks:    rows per chunk at the headline size, which sets the default chunk.

Times: one process, interleaved rounds (see timing.py); every time is a
ratio to a baseline in the same round, printed as median (min-max).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.nn import LinearCrossEntropyOptions
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best, spread

from g2c.nn import cross_entropy, linear_cross_entropy
from g2c.nn.linear_cross_entropy import PLAIN_PATH_MAX_LOGITS, default_chunk_size

HEADLINE = (8192, 768, 50304)  # N = B·T positions, d, V
VARIANTS = {
    "materialised": lambda h, w, b, t: cross_entropy(F.linear(h, w, b), t),
    "torch-materialised": lambda h, w, b, t: F.linear_cross_entropy(h, w, t, linear_bias=b),
    "torch-chunked": lambda h, w, b, t: F.linear_cross_entropy(
        h, w, t, linear_bias=b, options=LinearCrossEntropyOptions()
    ),
    "g2c": lambda h, w, b, t: linear_cross_entropy(h, w, t, bias=b),
    "g2c+z": lambda h, w, b, t: linear_cross_entropy(h, w, t, bias=b, z_loss=1e-4),
}
TIMED = ("materialised", "torch-chunked", "g2c")


def make_inputs(rows: int, dim: int, vocab: int):
    """Hidden states, a GPT-2-style 0.02-scaled head, a bias, and targets."""
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(rows, dim, generator=generator).requires_grad_(True)
    weight = (torch.randn(vocab, dim, generator=generator) * 0.02).requires_grad_(True)
    bias = torch.zeros(vocab).requires_grad_(True)
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    return hidden, weight, bias, targets


def step(loss_fn, hidden, weight, bias, targets) -> None:
    """One forward+backward; gradients are dropped afterwards."""
    loss_fn(hidden, weight, bias, targets).backward()
    hidden.grad = weight.grad = bias.grad = None


def _status_kib(field: str) -> int:
    """A memory field of /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_peak_mib(variant: str, rows: int, dim: int, vocab: int) -> float:
    """Run in a fresh interpreter: peak RSS growth of one step, in MiB.

    The peak is the kernel's high-water mark VmHWM, reset to the current RSS
    just before the step. (``ru_maxrss`` would not do: after fork+exec it
    starts at the parent's RSS, so a big parent inflates the child's peak.)
    """
    warnings.simplefilter("ignore")  # PyTorch warns that it ignores options for smoothing
    loss_fn = VARIANTS[variant]
    step(loss_fn, *make_inputs(64, dim, 512))  # load kernels and thread pools first
    inputs = make_inputs(rows, dim, vocab)
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    loss_fn(*inputs).backward()  # the .grad tensors it leaves count too
    return (_status_kib("VmHWM") - before) / 1024


def peak_in_subprocess(variant: str, size: tuple[int, int, int]) -> float:
    code = (
        "import sys; sys.path.insert(0, 'benchmarks');"
        "from bench_linear_cross_entropy import measure_peak_mib;"
        f"print(measure_peak_mib({variant!r}, *{size!r}))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    return float(out.stdout.strip().splitlines()[-1])


def step_fns(variants: dict, inputs) -> dict:
    return {name: (lambda fn=fn: step(fn, *inputs)) for name, fn in variants.items()}


def per_round(times: dict[str, list[float]], name: str, baseline: str) -> str:
    return spread([t / b for t, b in zip(times[name], times[baseline])])


def headline(rounds: int) -> None:
    rows, dim, vocab = HEADLINE
    print(f"== headline: N={rows}, d={dim}, V={vocab}, fp32, threads={torch.get_num_threads()}")
    for name in VARIANTS:
        print(f"   peak extra memory {name:>18}: {peak_in_subprocess(name, HEADLINE):8.0f} MiB",
              flush=True)
    fns = step_fns({name: VARIANTS[name] for name in TIMED}, make_inputs(*HEADLINE))
    for fn in fns.values():
        fn()  # one-time costs (page faults, thread pools) before the rounds
    times = interleaved_best(fns, rounds, repeats=1, warmup=0)
    print(f"   time / torch-chunked's, median (min-max) of {rounds} interleaved rounds:")
    for name in TIMED:
        print(f"   {name:>14}: {per_round(times, name, 'torch-chunked')}")


def crossover(rounds: int) -> None:
    print(f"== crossover: chunked / plain (materialised) time, median (min-max) of {rounds} "
          f"interleaved rounds; PLAIN_PATH_MAX_LOGITS = {PLAIN_PATH_MAX_LOGITS:,}")
    print(f"   {'N':>6} {'d':>4} {'V':>6} {'N·V':>12} {'chunks':>6} {'chunked / plain':>18}")
    cases = [(64, 32, 65), (1024, 64, 65), (4096, 128, 65), (4096, 384, 512),
             (512, 768, 4096), (2048, 768, 4096), (8192, 768, 4096), (8192, 768, 8192),
             (4096, 768, 50304)]
    for rows, dim, vocab in cases:
        inputs = make_inputs(rows, dim, vocab)
        chunk = default_chunk_size(rows, vocab)
        variants = {
            "plain": VARIANTS["materialised"],
            "chunked": lambda h, w, b, t, c=chunk: linear_cross_entropy(
                h, w, t, bias=b, chunk_size=c
            ),
        }
        start = time.perf_counter()
        step(variants["plain"], *inputs)  # warm-up, and a guess at how many repeats fit
        repeats = max(1, min(50, int(0.2 / (time.perf_counter() - start))))
        times = interleaved_best(step_fns(variants, inputs), rounds, repeats=repeats)
        print(f"   {rows:>6} {dim:>4} {vocab:>6} {rows * vocab:>12,} {-(-rows // chunk):>6} "
              f"{per_round(times, 'chunked', 'plain'):>18}", flush=True)


def chunk_sweep(rounds: int) -> None:
    rows, dim, vocab = HEADLINE
    default = default_chunk_size(rows, vocab)
    print(f"== rows per chunk at N={rows}, d={dim}, V={vocab}: time / the default chunk's "
          f"({default} rows), median (min-max) of {rounds} interleaved rounds")
    variants = {
        chunk: lambda h, w, b, t, c=chunk: linear_cross_entropy(h, w, t, bias=b, chunk_size=c)
        for chunk in (128, 256, 512, 1024)
    }
    fns = step_fns(variants, make_inputs(*HEADLINE))
    fns[default]()  # one-time costs before the rounds
    times = interleaved_best(fns, rounds, repeats=1, warmup=0)
    for chunk in variants:
        buffer_mib = chunk * vocab * 4 / 2**20
        print(f"   {chunk:>4} rows ({buffer_mib:5.0f} MiB logits buffer): "
              f"{per_round(times, chunk, default)}", flush=True)


def main() -> None:
    known = {"headline": headline, "crossover": crossover, "chunks": chunk_sweep}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"any of {list(known)} (default: all)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if set(args.parts) - set(known):
        parser.error(f"unknown part; choose from {list(known)}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    for part in args.parts or known:
        known[part](args.rounds)


if __name__ == "__main__":
    main()

"""get_lm_batch vs the per-row loop, and vs a bare copy of the same bytes.

    python benchmarks/bench_batch.py [--rounds 5]

B=64, T=256, a 1M-token stream, one thread, for a torch int64 tensor and for
a uint16 np.memmap (the on-disk format); then B=1024, where the bytes
dominate and the gather's own cost shows. Every call is timed in interleaved
rounds (per round the fastest of 20 calls of each); the printed ratios are
median (min-max) over the rounds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best, spread

from g2c.pretraining import get_lm_batch

BATCH, BIG_BATCH, CONTEXT, STREAM = 64, 1024, 256, 1_000_000


def per_row_loop(ids: torch.Tensor, generator: torch.Generator):
    """The idiom the course warns about: one Python slice per row."""
    starts = torch.randint(0, len(ids) - CONTEXT, (BATCH,), generator=generator)
    x = torch.stack([ids[s : s + CONTEXT] for s in starts])
    y = torch.stack([ids[s + 1 : s + CONTEXT + 1] for s in starts])
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the data path runs beside training; one thread is its share
    ids = torch.randint(0, 50_000, (STREAM,), dtype=torch.int64)
    generator = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.bin"
        ids.numpy().astype(np.uint16).tofile(path)
        stream = np.memmap(path, dtype=np.uint16, mode="r")
        as_tensor = torch.from_numpy(np.array(stream[: BATCH * (CONTEXT + 1)]))
        window = ids[: BATCH * (CONTEXT + 1)]
        big_window = ids[: BIG_BATCH * (CONTEXT + 1)]
        fns = {
            "ours": lambda: get_lm_batch(ids, BATCH, CONTEXT, generator=generator),
            "loop": lambda: per_row_loop(ids, generator),
            "bare": lambda: window.clone(),
            "ours memmap": lambda: get_lm_batch(stream, BATCH, CONTEXT, generator=generator),
            "bare widen": lambda: as_tensor.to(torch.int64),
            "ours B=1024": lambda: get_lm_batch(ids, BIG_BATCH, CONTEXT, generator=generator),
            "bare B=1024": lambda: big_window.clone(),
        }
        t = interleaved_best(fns, args.rounds, repeats=20, warmup=3)

    def per_round(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(t[a], t[b])]

    print(f"B={BATCH} T={CONTEXT}, {STREAM:,}-token stream, 1 thread; median (min-max) of "
          f"{args.rounds} interleaved rounds, each the fastest of 20 calls")
    print(f"  per-row loop / get_lm_batch (torch int64)          "
          f"{spread(per_round('loop', 'ours'), '.1f')}x")
    print(f"  get_lm_batch / bare copy (torch int64)             "
          f"{spread(per_round('ours', 'bare'))}x")
    print(f"  get_lm_batch / bare copy+widen (uint16 memmap)     "
          f"{spread(per_round('ours memmap', 'bare widen'))}x")
    print(f"  get_lm_batch / bare copy (torch int64, B={BIG_BATCH})    "
          f"{spread(per_round('ours B=1024', 'bare B=1024'))}x")


if __name__ == "__main__":
    main()

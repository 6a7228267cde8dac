"""get_lm_batch vs the per-row loop, and vs a bare copy of the same bytes.

    python benchmarks/bench_batch.py

Prints ratios measured in this process: B=64, T=256, a 1M-token stream, for
a torch int64 tensor and for a uint16 np.memmap (the on-disk format). At B=64
a call is dominated by fixed per-call costs (drawing the starts, making views:
~1-3 us each in PyTorch's dispatcher); the last lines repeat the comparison at
B=1024, where the bytes dominate and the gather's own cost shows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_time  # noqa: E402

from g2c.pretraining import get_lm_batch  # noqa: E402

BATCH, CONTEXT, STREAM = 64, 256, 1_000_000


def per_row_loop(ids: torch.Tensor, generator: torch.Generator):
    """The idiom the course warns about: one Python slice per row."""
    starts = torch.randint(0, len(ids) - CONTEXT, (BATCH,), generator=generator)
    x = torch.stack([ids[s : s + CONTEXT] for s in starts])
    y = torch.stack([ids[s + 1 : s + CONTEXT + 1] for s in starts])
    return x, y


def main() -> None:
    torch.set_num_threads(1)  # the data path runs beside training; one thread is its share
    ids = torch.randint(0, 50_000, (STREAM,), dtype=torch.int64)
    generator = torch.Generator().manual_seed(0)
    ours = best_time(lambda: get_lm_batch(ids, BATCH, CONTEXT, generator=generator))
    loop = best_time(lambda: per_row_loop(ids, generator), repeats=10)
    window = ids[: BATCH * (CONTEXT + 1)]
    bare = best_time(lambda: window.clone())
    print(f"torch int64 stream, B={BATCH} T={CONTEXT} n={STREAM:,}")
    print(f"  get_lm_batch      {ours * 1e6:9.1f} us")
    print(f"  per-row loop      {loop * 1e6:9.1f} us   -> ours is {loop / ours:6.1f}x faster")
    print(f"  bare copy         {bare * 1e6:9.1f} us   -> ours is {ours / bare:6.2f}x a bare copy")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.bin"
        ids.numpy().astype(np.uint16).tofile(path)
        stream = np.memmap(path, dtype=np.uint16, mode="r")
        mem = best_time(lambda: get_lm_batch(stream, BATCH, CONTEXT, generator=generator))
        as_tensor = torch.from_numpy(np.asarray(stream[: BATCH * (CONTEXT + 1)]))
        bare16 = best_time(lambda: as_tensor.to(torch.int64))
        print(f"uint16 np.memmap stream")
        print(f"  get_lm_batch      {mem * 1e6:9.1f} us")
        print(f"  bare copy+widen   {bare16 * 1e6:9.1f} us   -> ours is {mem / bare16:6.2f}x a bare copy")
        del stream

    big = 1024
    ours_big = best_time(lambda: get_lm_batch(ids, big, CONTEXT, generator=generator))
    bare_big = best_time(lambda: ids[: big * (CONTEXT + 1)].clone())
    print(f"torch int64 stream, B={big} T={CONTEXT}")
    print(f"  get_lm_batch      {ours_big * 1e6:9.1f} us")
    print(f"  bare copy         {bare_big * 1e6:9.1f} us   -> ours is {ours_big / bare_big:6.2f}x a bare copy")


if __name__ == "__main__":
    main()

"""Document masking: its step-time cost, and validation loss at equal tokens.

    python benchmarks/bench_document_mask.py [--rounds 5] [--steps 150] [--seeds 0 1 2]
                                             [--threads 1] [--skip-loss]

1. Step time. Forward + backward of a small TransformerLM (V=65, C=128,
   4 layers, 4 heads) on B=8 packed rows of T=256 whose documents average
   ~120 tokens, so rows hold several documents and the masked path runs on
   every step. Masked (boolean block mask into SDPA) and plain causal
   (``is_causal=True``) steps in interleaved rounds (per round the fastest of
   5 steps of each); the masked/causal ratio is median (min-max) over rounds.

2. Validation loss at equal tokens on the built-in Shakespeare corpus (38
   plays, one document each, character ids; a C=64, 2-layer model, B=16),
   per seed:
     masked    packed rows + document_ids + restarted position_ids
     unmasked  the same packed rows, plain causal attention
     windows   random get_lm_batch windows across play boundaries (the default path)
   All three train on the same number of input tokens and are scored on the
   same targets: 256 evenly spaced packed rows of 5 held-out plays.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved_best, spread

from g2c.corpora.shakespeare import shakespeare_documents
from g2c.pretraining import (
    get_lm_batch,
    get_packed_batch,
    get_packed_rows,
    lm_cross_entropy,
    pack_documents,
)
from g2c.tokenizer import CharTokenizer
from g2c.transformer import TransformerLM

CONTEXT = 256


def join_documents(documents: list[np.ndarray], eot_id: int) -> tuple[np.ndarray, np.ndarray]:
    """One stream ``d0 E d1 E d2`` and the start offset of every document."""
    lengths = np.array([len(d) for d in documents])
    offsets = np.concatenate([[0], np.cumsum(lengths[:-1] + 1)])
    stream = np.full(int(lengths.sum()) + len(documents) - 1, eot_id, dtype=np.uint16)
    for start, document in zip(offsets, documents):
        stream[start : start + len(document)] = document
    return stream, offsets


def step_time(threads: int, rounds: int) -> None:
    rng = np.random.default_rng(0)
    documents = [rng.integers(1, 65, size=n) for n in rng.geometric(1 / 120, size=4000)]
    ids, offsets = join_documents(documents, eot_id=0)
    plan = pack_documents(offsets, len(ids), CONTEXT)
    batch = get_packed_batch(ids, plan, 8, generator=torch.Generator().manual_seed(0), eot_id=0)
    pieces_per_row = (batch.document_ids.max(dim=1).values + 1).float().mean()
    torch.manual_seed(0)
    model = TransformerLM(65, 128, 4, 4, CONTEXT)

    def step(**packed) -> None:
        model.zero_grad(set_to_none=True)
        lm_cross_entropy(model(batch.x, **packed), batch.y).backward()

    masked = {"document_ids": batch.document_ids, "position_ids": batch.position_ids}
    times = interleaved_best({"causal": step, "masked": lambda: step(**masked)}, rounds,
                             repeats=5, warmup=1)
    ratio = [m / c for m, c in zip(times["masked"], times["causal"])]
    print(f"step time (forward + backward): B=8 T={CONTEXT} V=65 C=128 L=4 H=4, "
          f"{pieces_per_row:.1f} documents per row, {threads} thread(s)")
    print(f"  masked / causal: {spread(ratio, '.3f')}  (median (min-max) of {rounds} "
          f"interleaved rounds, each the fastest of 5 steps; target <= 1.15)")


def shakespeare_splits(tokenizer: CharTokenizer):
    plays = list(shakespeare_documents())
    encoded = tokenizer.encode_batch_arrays(plays)
    held_out = set(range(3, len(plays), 8))  # 5 of 38 plays, spread over the genres
    eot = tokenizer.eot_id
    train = join_documents([e for i, e in enumerate(encoded) if i not in held_out], eot)
    val = join_documents([e for i, e in enumerate(encoded) if i in held_out], eot)
    return train, val, len(plays) - len(held_out), len(held_out)


def validation_loss(model, ids, plan, masked: bool, eot_id: int, num_rows: int = 256) -> float:
    """Mean loss over ``num_rows`` evenly spaced rows of the held-out plan (same for every run)."""
    total, count = 0.0, 0
    chosen = np.linspace(0, plan.num_rows - 1, min(num_rows, plan.num_rows)).astype(np.int64)
    model.eval()
    with torch.no_grad():
        for rows in np.array_split(chosen, max(1, len(chosen) // 32)):
            x, y, document_ids, position_ids = get_packed_rows(ids, plan, rows, eot_id=eot_id)
            packed = {"document_ids": document_ids, "position_ids": position_ids} if masked else {}
            kept = int((y != -100).sum())
            total += float(lm_cross_entropy(model(x, **packed), y)) * kept
            count += kept
    model.train()
    return total / count


def train_one(mode: str, seed: int, steps: int, data, tokenizer) -> float:
    (train_ids, train_offsets), (val_ids, val_offsets) = data
    train_plan = pack_documents(train_offsets, len(train_ids), CONTEXT)
    val_plan = pack_documents(val_offsets, len(val_ids), CONTEXT)
    torch.manual_seed(seed)
    model = TransformerLM(tokenizer.vocab_size, 64, 2, 4, CONTEXT)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.1)
    generator = torch.Generator().manual_seed(seed)
    eot = tokenizer.eot_id
    for _ in range(steps):
        if mode == "windows":
            x, y = get_lm_batch(train_ids, 16, CONTEXT, generator=generator)
            packed = {}
        else:
            x, y, document_ids, position_ids = get_packed_batch(
                train_ids, train_plan, 16, generator=generator, eot_id=eot
            )
            packed = {"document_ids": document_ids, "position_ids": position_ids}
            packed = packed if mode == "masked" else {}
        loss = lm_cross_entropy(model(x, **packed), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return validation_loss(model, val_ids, val_plan, mode == "masked", eot)


def loss_comparison(steps: int, seeds: list[int]) -> None:
    plays = list(shakespeare_documents())
    tokenizer = CharTokenizer.train(plays)
    train, val, num_train, num_val = shakespeare_splits(tokenizer)
    plan = pack_documents(train[1], len(train[0]), CONTEXT)
    multi = np.diff(plan.row_offsets) > 1
    print(f"\nvalidation loss (nats/char) at equal tokens: {steps} steps x 16 x {CONTEXT} = "
          f"{steps * 16 * CONTEXT:,} input tokens; {num_train} train plays, {num_val} held out")
    print(f"  train plan: {plan.summary()}, rows holding >1 document: {multi.mean():.2%}")
    modes = ("masked", "unmasked", "windows")
    results = {mode: [] for mode in modes}
    print("  seed " + "".join(f"{mode:>11}" for mode in modes), flush=True)
    for seed in seeds:
        for mode in modes:
            results[mode].append(train_one(mode, seed, steps, (train, val), tokenizer))
        print(f"  {seed:4d} " + "".join(f"{results[m][-1]:11.4f}" for m in modes), flush=True)
    print("  mean " + "".join(f"{np.mean(results[m]):11.4f}" for m in modes))
    print("  std  " + "".join(f"{np.std(results[m], ddof=1) if len(seeds) > 1 else math.nan:11.4f}"
                              for m in modes))
    difference = np.array(results["masked"]) - np.array(results["unmasked"])
    print(f"  masked - unmasked, paired by seed: {', '.join(f'{d:+.4f}' for d in difference)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved step-time rounds")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-loss", action="store_true", help="only measure step time")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: least exposed to other jobs on a shared machine)")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    step_time(args.threads, args.rounds)
    if not args.skip_loss:
        loss_comparison(args.steps, args.seeds)
    print(f"\ntotal {time.perf_counter() - start:.0f} s; "
          f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

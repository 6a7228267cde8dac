"""Peak RSS of ``g2c prepare --corpus hf:DIR`` on a generated local dataset of over 1 GB.

    python benchmarks/bench_prepare_hf.py [--gigabytes 1.1] [--tokenizer bpe]

Writes Parquet shards of synthetic story-sized documents (0.3-3 KB of
made-up words, like TinyStories rows) holding ``--gigabytes`` of text into a
fresh temporary directory in /tmp, runs ``g2c prepare --corpus hf:THAT_DIR``
once in a child process with the Hugging Face libraries offline, and prints
the child's peak resident memory (its own VmHWM, read just before it exits)
next to the goal of < 500 MiB, then deletes everything. The ``hf:`` path
streams rows through ``datasets``, so the peak must not grow with the data.

Peak RSS is a memory size, which does not drift with the machine's speed:
one run measures it (no times are printed: one run of a time on a shared
machine is no result). Takes several minutes; not part of ``make test``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bench_prepare import synthetic_blocks

SHARD_BYTES = 64 << 20  # text per Parquet file, about the size of a Hub shard
ROW_GROUP_ROWS = 10_000

# The child: the g2c command line itself, then its own peak RSS as a last JSON line.
# It first imports what the command imports anyway (its verb's parser, datasets),
# so the peak can be split into "libraries loaded" and "the data on top".
CHILD = """
import json, os, sys
os.environ.setdefault("USE_TORCH", "0")  # what `g2c prepare` itself sets before datasets loads
import datasets
from g2c.cli import build_parser, main

def peak_mib():
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith("VmHWM:")) / 1024

build_parser(["prepare"])  # `g2c prepare ...` builds only its own verb's parser
imports = peak_mib()
status = main(sys.argv[1:])
print(json.dumps({"status": status, "imports_mib": imports, "peak_rss_mib": peak_mib(),
                  "torch_imported": "torch" in sys.modules}))
"""


def write_parquet_shards(folder: Path, target_bytes: int, seed: int = 0) -> tuple[int, int, int]:
    """Shards of documents cut from shuffled synthetic blocks; (text bytes, rows, shards)."""
    rng = np.random.default_rng(seed)
    blocks = synthetic_blocks(64, seed)
    written = rows = shards = 0
    while written < target_bytes:
        documents, size = [], 0
        while size < SHARD_BYTES:
            text = blocks[rng.integers(len(blocks))]
            cuts = np.cumsum(rng.integers(300, 3_000, size=len(text) // 300))
            starts = [0, *cuts[cuts < len(text)].tolist()]
            documents += [text[a:b] for a, b in itertools.pairwise(starts)]
            size += starts[-1]  # ASCII: characters are bytes
        pq.write_table(pa.table({"text": documents}), folder / f"train-{shards:05d}.parquet",
                       row_group_size=ROW_GROUP_ROWS)
        written, rows, shards = written + size, rows + len(documents), shards + 1
    return written, rows, shards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=1.1, help="text to generate (GB)")
    parser.add_argument("--tokenizer", default="bpe", choices=("bpe", "char"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="g2c-bench-prepare-hf-", dir="/tmp"))
    try:
        data = workdir / "stories"
        data.mkdir()
        text_bytes, rows, shards = write_parquet_shards(data, int(args.gigabytes * 1e9))
        disk = sum(path.stat().st_size for path in data.iterdir())
        print(f"dataset: {text_bytes / 1e9:.2f} GB of text in {rows:,} rows, {shards} Parquet "
              f"shards ({disk / 1e9:.2f} GB on disk)", flush=True)
        env = {**os.environ, "HF_HOME": str(workdir / "hf-home"), "HF_DATASETS_OFFLINE": "1",
               "HF_HUB_OFFLINE": "1"}
        command = ["prepare", "--corpus", f"hf:{data}", "--out", str(workdir / "prepared"),
                   "--tokenizer", args.tokenizer, "--quiet"]
        result = subprocess.run([sys.executable, "-c", CHILD, *command], env=env,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"g2c {' '.join(command)} failed:\n{result.stderr}")
        *summary, last = result.stdout.strip().splitlines()
        stats = json.loads(last)
        print("\n".join(summary))
        print(f"g2c prepare --corpus hf:DIR --tokenizer {args.tokenizer}: "
              f"peak RSS {stats['peak_rss_mib']:.0f} MiB (goal < 500 MiB), of which "
              f"{stats['imports_mib']:.0f} MiB before reading any data (the CLI and datasets "
              f"imported; torch among them: {stats['torch_imported']})", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

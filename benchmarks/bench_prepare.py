"""Prepare a synthetic corpus larger than RAM budgets allow: peak RSS.

    python benchmarks/bench_prepare.py --gigabytes 2.1 [--tokenizers char,bpe]

Writes a synthetic ``.jsonl`` corpus (Zipf-distributed made-up words, documents
of 1-16 KB) of the requested size under a fresh temporary directory in /tmp,
runs ``prepare_corpus`` on it once per tokenizer in a child process, and
prints each child's peak resident memory (its VmHWM; the goal is < 500 MiB),
then deletes everything. Peak RSS is a memory size, which does not drift
with the machine's speed: one run per tokenizer measures it. (Tokenizer
speed, as ratios, is bench_tokenizer.py's.) Takes minutes for 2 GB; not part
of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# Runs in a fresh process. Peak memory is read from VmHWM, the high-water mark
# of this process image alone: ru_maxrss would also count the parent's pages
# copied at fork.
CHILD = """
import json, resource, sys
from g2c.corpora import prepare_corpus

def peak_rss_mib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

prepared = prepare_corpus(sys.argv[1], sys.argv[2], tokenizer=sys.argv[3], progress=False)
manifest = prepared.manifest
print(json.dumps({
    "tokens": manifest["split"]["total_tokens"],
    "documents": manifest["documents"]["count"],
    "vocab_size": prepared.vocab_size,
    "peak_rss_mib": peak_rss_mib(),
}))
"""


def synthetic_blocks(count: int, seed: int = 0) -> list[str]:
    """``count`` blocks of about 1.2 MB of made-up text (Zipf-distributed words)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    lexicon = np.array(["".join(rng.choice(letters, n)) for n in rng.integers(1, 11, 30_000)])
    punctuation = np.array([" "] * 6 + [", ", ". ", ".\n", "? "])
    blocks = []
    for _ in range(count):
        words = lexicon[np.minimum(rng.zipf(1.2, size=200_000), len(lexicon)) - 1]
        glue = punctuation[rng.integers(0, len(punctuation), size=len(words))]
        blocks.append("".join(np.char.add(words, glue).tolist()))
    return blocks


def write_synthetic_corpus(path: Path, target_bytes: int, seed: int = 0) -> tuple[int, int]:
    """A jsonl file of made-up documents (1-16 KB); returns (bytes, documents).

    64 distinct blocks are generated once and then written in shuffled order,
    each cut into documents at fresh random points: realistic enough for
    throughput and memory, and fast to write.
    """
    rng = np.random.default_rng(seed)
    blocks = synthetic_blocks(64, seed)
    written = documents = 0
    with open(path, "w", encoding="utf-8") as file:
        while written < target_bytes:
            text = blocks[rng.integers(len(blocks))]
            cuts = np.cumsum(rng.integers(1_000, 16_000, size=len(text) // 1_000))
            lines = [json.dumps({"text": part}) for part in _pieces(text, cuts[cuts < len(text)])]
            block = "\n".join(lines) + "\n"
            file.write(block)
            written += len(block)  # ASCII: characters are bytes
            documents += len(lines)
    return written, documents


def _pieces(text: str, cuts: np.ndarray) -> list[str]:
    starts = [0, *cuts.tolist()]
    ends = [*cuts.tolist(), len(text)]
    return [text[a:b] for a, b in zip(starts, ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.1)
    parser.add_argument("--tokenizers", default="char,bpe")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="g2c-bench-prepare-", dir="/tmp"))
    try:
        corpus = workdir / "synthetic.jsonl"
        size, documents = write_synthetic_corpus(corpus, int(args.gigabytes * 1e9))
        print(f"synthetic corpus: {size / 1e9:.2f} GB, {documents:,} documents", flush=True)
        for kind in args.tokenizers.split(","):
            out = workdir / f"prepared-{kind}"
            result = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(out), kind],
                                    check=True, capture_output=True, text=True)
            stats = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{kind:>4}: V={stats['vocab_size']:,}  {stats['tokens']:,} tokens; "
                  f"peak RSS {stats['peak_rss_mib']:.0f} MiB (goal < 500 MiB)", flush=True)
            shutil.rmtree(out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

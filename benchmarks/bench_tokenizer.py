"""Tokenizer speed: BPE training time, BPE and char encoding tokens/s, tiktoken as the reference.

    python benchmarks/bench_tokenizer.py [--repeat-text 4]

1. Train G2CTokenizer (vocab 4,096) on the built-in Shakespeare corpus (goal: < 30 s).
2. Encode the corpus (repeated ``--repeat-text`` times) with
   ``encode_batch_arrays`` — the path ``prepare_corpus`` uses, on every core —
   next to a bare ``tiktoken`` Encoding of the same vocabulary (the reference:
   our wrapper's overhead) and HF ``tokenizers``' own ``encode_batch_fast``
   (the engine we did not pick), same text, same process.
3. Encode the same text with CharTokenizer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_time  # noqa: E402

from g2c.corpora import shakespeare_documents  # noqa: E402
from g2c.tokenizer import SPECIAL_TOKENS, CharTokenizer, G2CTokenizer  # noqa: E402
from g2c.tokenizer.bpe import PRETOKENIZE_PATTERN, byte_level_spelling  # noqa: E402

def tiktoken_reference(tokenizer: G2CTokenizer):
    """A bare tiktoken Encoding with our vocabulary: rank = our id, the same pattern."""
    import tiktoken

    spelling = byte_level_spelling()
    ranks = {bytes(spelling[c] for c in token): index
             for token, index in tokenizer.hf_tokenizer.get_vocab().items()
             if index >= len(SPECIAL_TOKENS)}
    return tiktoken.Encoding("reference", pat_str=PRETOKENIZE_PATTERN, mergeable_ranks=ranks,
                             special_tokens={name: i for i, name in enumerate(SPECIAL_TOKENS)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat-text", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=4096)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    documents = list(shakespeare_documents())
    megabytes = sum(len(d.encode()) for d in documents) / 1e6

    start = time.perf_counter()
    bpe = G2CTokenizer.train(documents, args.vocab_size)
    train_seconds = time.perf_counter() - start
    print(f"BPE training: {len(documents)} plays, {megabytes:.1f} MB, V={bpe.vocab_size}: "
          f"{train_seconds:.1f} s (goal < 30 s)")

    texts = documents * args.repeat_text
    tokens = sum(len(ids) for ids in bpe.encode_batch_arrays(texts))
    ours = best_time(lambda: bpe.encode_batch_arrays(texts), repeats=3, warmup=1)
    reference = tiktoken_reference(bpe)
    bare = best_time(lambda: reference.encode_ordinary_batch(texts, num_threads=threads),
                     repeats=3, warmup=1)
    hf = bpe.hf_tokenizer
    hf_time = best_time(lambda: hf.encode_batch_fast(texts, add_special_tokens=False),
                        repeats=3, warmup=1)
    print(f"BPE encoding: {tokens:,} tokens of {megabytes * args.repeat_text:.0f} MB, "
          f"{threads} threads")
    print(f"  G2CTokenizer.encode_batch_arrays  {tokens / ours / 1e6:6.2f} M tokens/s "
          f"(goal >= 1)")
    print(f"  bare tiktoken, same vocabulary    {tokens / bare / 1e6:6.2f} M tokens/s   -> ours "
          f"is {bare / ours:.2f}x its speed")
    print(f"  HF tokenizers encode_batch_fast   {tokens / hf_time / 1e6:6.2f} M tokens/s   -> "
          f"ours is {hf_time / ours:.1f}x faster")

    char = CharTokenizer.train(documents)
    chars = sum(len(t) for t in texts)
    char_time = best_time(lambda: char.encode_batch_arrays(texts), repeats=3, warmup=1)
    print(f"Char encoding: {chars / char_time / 1e6:6.1f} M tokens/s")


if __name__ == "__main__":
    main()

"""Tokenizer speed: BPE training and encoding against their reference engines.

    python benchmarks/bench_tokenizer.py [--rounds 5] [--repeat-text 2]

1. Train G2CTokenizer (vocab 4,096) on the built-in Shakespeare corpus, next
   to a bare HF ``tokenizers`` BpeTrainer with the same settings (the wrapper's
   overhead). Goal: < 30 s (the one absolute time printed, for the goal only).
2. Encode the corpus (repeated ``--repeat-text`` times) with
   ``encode_batch_arrays`` (the path ``prepare_corpus`` uses, on every core),
   a bare ``tiktoken`` Encoding of the same vocabulary (the reference: our
   wrapper's overhead) and HF ``tokenizers``' own ``encode_batch_fast`` (the
   engine we did not pick), same text, same process.
3. Char encoding, against a bare ``str.encode`` + ``np.frombuffer`` of the same text.

Everything in interleaved rounds; ratios are median (min-max) over the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import interleaved, interleaved_best, spread

from g2c.corpora import shakespeare_documents
from g2c.tokenizer import SPECIAL_TOKENS, CharTokenizer, G2CTokenizer
from g2c.tokenizer.bpe import PRETOKENIZE_PATTERN, byte_level_spelling


def bare_hf_train(documents: list[str], vocab_size: int) -> Tokenizer:
    """HF tokenizers' BPE training as G2CTokenizer.train configures it, without the wrapper."""
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2,
                                  special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator(documents, trainer)
    return hf


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat-text", type=int, default=2)
    parser.add_argument("--vocab-size", type=int, default=4096)
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    documents = list(shakespeare_documents())
    megabytes = sum(len(d.encode()) for d in documents) / 1e6
    print(f"median (min-max) of {args.rounds} interleaved rounds, {threads} threads")

    train = interleaved({
        "g2c": lambda: seconds(lambda: G2CTokenizer.train(documents, args.vocab_size)),
        "bare": lambda: seconds(lambda: bare_hf_train(documents, args.vocab_size)),
    }, args.rounds)
    print(f"BPE training, {len(documents)} plays, {megabytes:.1f} MB, V={args.vocab_size}:")
    print(f"  G2CTokenizer.train / bare tokenizers BpeTrainer  "
          f"{spread([g / b for g, b in zip(train['g2c'], train['bare'])])}x")
    print(f"  G2CTokenizer.train, absolute (goal < 30 s)       {spread(train['g2c'], '.1f')} s")

    bpe = G2CTokenizer.train(documents, args.vocab_size)
    texts = documents * args.repeat_text
    tokens = sum(len(ids) for ids in bpe.encode_batch_arrays(texts))
    reference = tiktoken_reference(bpe)
    hf = bpe.hf_tokenizer
    char = CharTokenizer.train(documents)
    joined = "".join(texts)
    encode = interleaved_best({
        "g2c": lambda: bpe.encode_batch_arrays(texts),
        "tiktoken": lambda: reference.encode_ordinary_batch(texts, num_threads=threads),
        "hf": lambda: hf.encode_batch_fast(texts, add_special_tokens=False),
        "char": lambda: char.encode_batch_arrays(texts),
        "bytes": lambda: np.frombuffer(joined.encode("utf-8"), dtype=np.uint8).astype(np.uint16),
    }, args.rounds, repeats=1, warmup=0)

    def per_round(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(encode[a], encode[b])]

    print(f"BPE encoding, {tokens:,} tokens of {megabytes * args.repeat_text:.0f} MB:")
    print(f"  G2CTokenizer.encode_batch_arrays speed / bare tiktoken      "
          f"{spread(per_round('tiktoken', 'g2c'))}x")
    print(f"  G2CTokenizer.encode_batch_arrays speed / HF encode_batch_fast "
          f"{spread(per_round('hf', 'g2c'))}x")
    print(f"  G2CTokenizer.encode_batch_arrays, absolute (goal >= 1 M tokens/s) "
          f"{tokens / statistics.median(encode['g2c']) / 1e6:.2f} M tokens/s (median)")
    print(f"Char encoding speed / bare str.encode + np.frombuffer + widen   "
          f"{spread(per_round('bytes', 'char'))}x")


if __name__ == "__main__":
    main()

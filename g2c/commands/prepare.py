"""``g2c prepare --corpus SOURCE --out DIR``: a thin shell over :func:`g2c.corpora.prepare_corpus`."""

from __future__ import annotations

import os


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="tokenize a corpus into train/val token files with a manifest",
        description="Tokenize a corpus into train.bin/val.bin (documents joined by "
        "<|endoftext|>), document offsets, tokenizer.json and manifest.json. Re-running "
        "on unchanged inputs reuses the result.",
    )
    parser.add_argument(
        "--corpus", required=True, metavar="SOURCE",
        help="shakespeare | tinyshakespeare | a .txt/.md/.jsonl(.gz) file | a directory | "
        "hf:DATASET[@SPLIT] (a Hub name, or hf:PATH for a local data file, folder or "
        "save_to_disk folder) | a mixture 'SOURCE=WEIGHT,SOURCE=WEIGHT'; .jsonl rows hold "
        "'text', or chat 'messages' rendered with the reserved chat tokens",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--tokenizer", default="bpe", metavar="char|bpe|FILE",
                        help="train a char or byte-level BPE tokenizer, or use a tokenizer "
                        "JSON file (default: bpe)")
    parser.add_argument("--vocab-size", type=int, default=None,
                        help="BPE vocabulary size (default 4096; from 260 to 1,048,576)")
    parser.add_argument("--train-fraction", type=float, default=0.9,
                        help="leading share of tokens used for training (default 0.9)")
    parser.add_argument("--separator", default=None, metavar="LINE",
                        help="split .txt files into documents at lines equal to LINE")
    parser.add_argument("--text-field", default="text", help="JSON field holding the text")
    parser.add_argument("--replace-invalid-utf8", action="store_true",
                        help="replace invalid UTF-8 bytes with U+FFFD instead of failing")
    parser.add_argument("--download", action="store_true",
                        help="allow downloading tinyshakespeare if it is not on this machine")
    parser.add_argument("--upsample", action="store_true",
                        help="in a mixture, repeat sources that run out until all are used "
                        "(default: stop at the first one that runs out)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a prepared corpus in DIR that was made differently")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    # Preparing text needs no PyTorch; keep `datasets` from importing it too (~230 MiB).
    os.environ.setdefault("USE_TORCH", "0")
    from g2c.corpora import prepare_corpus

    prepared = prepare_corpus(
        args.corpus,
        args.out,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size,
        train_fraction=args.train_fraction,
        progress=not args.quiet,
        overwrite=args.overwrite,
        separator=args.separator,
        text_field=args.text_field,
        encoding_errors="replace" if args.replace_invalid_utf8 else "strict",
        download=args.download,
        stopping="all_exhausted" if args.upsample else "first_exhausted",
    )
    manifest = prepared.manifest
    documents = manifest["documents"]
    print(f"prepared {manifest['corpus']['name']} -> {prepared.directory}")
    print(f"  tokenizer  {prepared.tokenizer.kind}, V={prepared.vocab_size}, "
          f"{manifest['dtype']}")
    print(f"  documents  {documents['count']:,} kept, {documents['skipped_empty']:,} empty "
          f"skipped")
    for name in ("train", "val"):
        split = manifest["splits"][name]
        print(f"  {name:<5}      {split['tokens']:,} tokens, {split['bytes']:,} bytes, "
              f"{split['documents']:,} documents")
    if manifest["corpus"]["mixture"]:
        for source in manifest["corpus"]["sources"]:
            print(f"  source     {source['name']}: weight {source['weight']:.3f}, token share "
                  f"{source['token_fraction']:.3f}")
    return 0

"""``prepare_corpus``: corpus -> tokenizer -> train.bin / val.bin + document index + manifest.

Two streaming passes, so memory stays flat however big the corpus is: train
the tokenizer (BPE on the first ``tokenizer_sample_bytes`` of text: merges
settle long before gigabytes), then encode documents in batches (BPE on every
core) into one token file with ``<|endoftext|>`` between them, cut by tokens
into train and val (``token_writer``).

* Reserved-token text in a document (``"<|endoftext|>"``) is ordinary text
  and cannot split it; only conversations (``g2c.corpora.chat``) are written
  with the chat tokens as special ids. The manifest counts both kinds.
* Empty documents are skipped and counted; a corpus with no text is an error.
* Everything is built in a staging folder inside ``out_dir`` and moved into
  place, ``manifest.json`` last, so a crash never leaves a directory that
  looks finished; the staging folder is removed on any failure.
* The same recipe (source fingerprint, tokenizer request, fraction) reuses
  the existing result after checking every file's sha256; a damaged one is
  rebuilt with a one-line warning.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import g2c
from g2c.atomic_files import remove_stale_temporary_files, temporary_directory
from g2c.corpora.chat import ChatDocument, encode_documents, text_pieces
from g2c.corpora.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    data_files,
    data_sha256,
    read_manifest,
    recipe_differences,
    sha256_file,
    write_manifest,
)
from g2c.corpora.prepared import (
    PreparedCorpus,
    PreparedCorpusMismatch,
    open_prepared,
    tokenizer_choice,
)
from g2c.corpora.resolve import resolve_source
from g2c.corpora.source import CorpusSource
from g2c.corpora.token_writer import TokenStreamWriter, split_stream, token_dtype
from g2c.token_split import split_point
from g2c.tokenizer import SPECIAL_TOKENS, BaseTokenizer, CharTokenizer, G2CTokenizer
from g2c.tokenizer.bpe import require_bpe_vocab_size
from g2c.validation import require_positive_int

DEFAULT_BPE_VOCAB = 4096
DEFAULT_SAMPLE_BYTES = 64 << 20
MIN_SPLIT_TOKENS = 2  # one (x, y) pair: fewer leaves a split with nothing to predict
BATCH_CHARS = 4 << 20  # characters per encoding batch: big enough to keep both cores busy
OUTPUT_FILES = ("train.bin", "val.bin", "train_doc_offsets.npy", "val_doc_offsets.npy",
                "tokenizer.json")


def prepare_corpus(
    source,
    out_dir: str | os.PathLike,
    *,
    tokenizer: str | os.PathLike | BaseTokenizer = "bpe",
    vocab_size: int | None = None,
    train_fraction: float = 0.9,
    progress: bool = True,
    overwrite: bool = False,
    separator: str | None = None,
    text_field: str = "text",
    encoding_errors: str = "strict",
    download: bool = False,
    stopping: str = "first_exhausted",
    tokenizer_sample_bytes: int = DEFAULT_SAMPLE_BYTES,
) -> PreparedCorpus:
    """Prepare ``source`` (see :func:`resolve_source`) into ``out_dir``, or reuse a finished,
    matching result there.

    ``tokenizer``: ``"bpe"`` or ``"char"`` (trained here), a tokenizer file or
    object (used as is); ``vocab_size`` is the BPE's (default 4096). ``overwrite``
    replaces a result of another recipe. ``separator`` … ``stopping`` go to
    ``resolve_source``.
    """
    split_point(0, train_fraction)  # refuse a bad fraction before reading any text
    tokenizer_sample_bytes = require_positive_int("tokenizer_sample_bytes", tokenizer_sample_bytes)
    out_dir = Path(out_dir)
    remove_stale_temporary_files(out_dir)  # staging folders of killed prepares
    corpus = resolve_source(source, separator=separator, text_field=text_field,
                            encoding_errors=encoding_errors, download=download, stopping=stopping)
    given, tokenizer_request = _tokenizer_request(tokenizer, vocab_size, tokenizer_sample_bytes)
    recipe = {
        "source": corpus.fingerprint(),
        "tokenizer": tokenizer_request,
        "train_fraction": float(train_fraction),
        "g2c_version": g2c.__version__,
    }
    reused = _reuse(out_dir, recipe, overwrite=overwrite, progress=progress)
    if reused is not None:
        return reused
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = temporary_directory(out_dir, "prepare")
    except OSError as error:
        raise ValueError(f"out_dir {out_dir} cannot be written: {error.strerror or error} "
                         f"({error.filename}); choose a directory you can write to") from None
    try:
        manifest = _build(corpus, staging, recipe, given, float(train_fraction), progress)
        _publish(staging, out_dir, manifest)
    except BaseException:  # Ctrl-C included: leave the file system as we found it
        shutil.rmtree(out_dir if created else staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return open_prepared(out_dir)


def _tokenizer_request(tokenizer, vocab_size, sample_bytes) -> tuple[BaseTokenizer | None, dict]:
    """(the tokenizer to use as is, or None to train one; its entry in the recipe)."""
    if vocab_size is not None:
        vocab_size = require_positive_int("vocab_size", vocab_size)
    choice = tokenizer_choice(tokenizer)
    if choice == "char":
        if vocab_size is not None:
            raise ValueError(f"vocab_size={vocab_size} does not apply to tokenizer='char' "
                             f"(its vocabulary is the corpus alphabet); leave it unset")
        return None, {"train": "char"}
    if choice == "bpe":
        vocab_size = require_bpe_vocab_size(vocab_size or DEFAULT_BPE_VOCAB)
        return None, {"train": "bpe", "vocab_size": vocab_size, "sample_bytes": sample_bytes}
    tokenizer = choice
    if vocab_size is not None and vocab_size != tokenizer.vocab_size:
        raise ValueError(f"vocab_size={vocab_size} contradicts the given tokenizer's "
                         f"vocab_size={tokenizer.vocab_size}; leave vocab_size unset")
    return tokenizer, {"use": tokenizer.kind, "sha256": tokenizer.fingerprint}


def _reuse(out_dir: Path, recipe: dict, *, overwrite: bool, progress: bool):
    if not (out_dir / MANIFEST_NAME).exists():
        return None
    try:
        old = read_manifest(out_dir)
    except ValueError as error:
        if overwrite:
            return None
        raise FileExistsError(f"{error}; pass overwrite=True (--overwrite) to replace it, or "
                              f"choose another output directory") from None
    differences = recipe_differences(old.get("recipe", {}), recipe)
    if differences:
        if overwrite:
            return None
        raise FileExistsError(
            f"{out_dir} already holds a prepared corpus made differently (differs in: "
            f"{', '.join(differences)}); pass overwrite=True (--overwrite) or choose another "
            f"output directory"
        )
    try:
        prepared = open_prepared(out_dir)
    except PreparedCorpusMismatch as error:  # the same recipe, damaged: g2c's to rebuild
        print(f"g2c prepare: warning: {out_dir}: {error.problem}; rebuilding it",
              file=sys.stderr)
        return None
    _say(progress, f"reusing the prepared corpus in {out_dir} (inputs unchanged)")
    return prepared


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"g2c prepare: {message}", file=sys.stderr)


def _train_tokenizer(corpus: CorpusSource, recipe: dict, progress: bool) -> BaseTokenizer:
    request = recipe["tokenizer"]
    conversations = 0
    with tqdm(desc="tokenizer: reading", unit="doc", disable=not progress) as bar:
        def texts() -> Iterator[str]:
            nonlocal conversations
            budget = request.get("sample_bytes")
            for document in corpus.documents():
                if not document:
                    continue
                bar.update()
                conversations += isinstance(document, ChatDocument)
                for text in text_pieces(document):  # a tokenizer learns text, not token names
                    yield text
                    if budget is not None:
                        budget -= len(text.encode("utf-8"))
                        if budget <= 0:
                            return

        if request["train"] == "char":
            tokenizer = CharTokenizer.train(texts())
            # Only a corpus with conversations needs the chat tokens; any other keeps
            # the classic char ids (<|endoftext|>, then the alphabet).
            if conversations:
                tokenizer = CharTokenizer(tokenizer.alphabet, special_tokens=SPECIAL_TOKENS)
            return tokenizer
        return G2CTokenizer.train(texts(), request["vocab_size"])


def _build(corpus: CorpusSource, staging: Path, recipe: dict, given: BaseTokenizer | None,
           train_fraction: float, progress: bool) -> dict:
    tokenizer = given or _train_tokenizer(corpus, recipe, progress)
    dtype = token_dtype(tokenizer.vocab_size)
    token_bytes = tokenizer.token_byte_lengths()
    sources = [{"name": s.name, "weight": w, "documents": 0, "skipped_empty": 0, "bytes": 0,
                "tokens": 0} for s, w in zip(corpus.components, corpus.weights)]
    with_special_text = conversations = 0
    writer = TokenStreamWriter(staging / "train.bin", staging / "offsets.raw", dtype=dtype,
                               eot_id=tokenizer.eot_id)
    started = time.perf_counter()
    with tqdm(desc="encoding", unit="tok", unit_scale=True, disable=not progress) as bar:
        for labels, texts in _batches(corpus, sources):
            conversations += sum(isinstance(t, ChatDocument) for t in texts)
            with_special_text += sum(not isinstance(t, ChatDocument) and "<|" in t
                                     and any(s in t for s in SPECIAL_TOKENS) for t in texts)
            encoded = encode_documents(tokenizer, texts)
            for label, ids in zip(labels, encoded):
                sources[label]["documents"] += 1
                sources[label]["tokens"] += len(ids)
                sources[label]["bytes"] += int(token_bytes[ids].sum())
            before = writer.tokens
            writer.write_batch(encoded)
            bar.update(writer.tokens - before)
            bar.set_postfix(docs=writer.documents, refresh=False)
    writer.close()
    seconds = time.perf_counter() - started
    if writer.documents == 0:
        skipped = sum(s["skipped_empty"] for s in sources)
        raise ValueError(f"corpus {corpus.name!r} has no text: {skipped} documents, all empty")
    total, cut = writer.tokens, split_point(writer.tokens, train_fraction)
    if min(cut, total - cut) < MIN_SPLIT_TOKENS:
        part = "train" if cut < MIN_SPLIT_TOKENS else "validation"
        raise ValueError(
            f"train_fraction={train_fraction} leaves the {part} split empty: the corpus has "
            f"{total:,} tokens and the cut falls at {cut:,}, but each split needs at least "
            f"{MIN_SPLIT_TOKENS} tokens (one input and its target); use more text or another "
            f"fraction"
        )
    split = split_stream(staging / "train.bin", staging / "offsets.raw", staging / "val.bin",
                         cut=cut, dtype=dtype, token_bytes=token_bytes)
    np.save(staging / "train_doc_offsets.npy", split.train_offsets)
    np.save(staging / "val_doc_offsets.npy", split.val_offsets)
    tokenizer.save(staging / "tokenizer.json")
    text_bytes = sum(s["bytes"] for s in sources)
    document_tokens = sum(s["tokens"] for s in sources)
    for entry in sources:
        entry["token_fraction"] = entry["tokens"] / document_tokens
    hashes = {name: sha256_file(staging / name) for name in OUTPUT_FILES}
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "g2c_version": g2c.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "corpus": {"name": corpus.name, "mixture": len(sources) > 1,
                   "stopping": getattr(corpus, "stopping", None), "sources": sources},
        "documents": {"count": writer.documents,
                      "skipped_empty": sum(s["skipped_empty"] for s in sources),
                      "conversations": conversations,
                      "containing_special_token_text": with_special_text},
        "tokenizer": {"kind": tokenizer.kind, "file": "tokenizer.json",
                      "vocab_size": tokenizer.vocab_size, "eot_id": tokenizer.eot_id,
                      "sha256": tokenizer.fingerprint,
                      "file_sha256": hashes["tokenizer.json"]},
        "dtype": dtype.name,
        "split": {"rule": "contiguous: train = the first int(n * train_fraction) tokens, "
                          "val = the rest", "train_fraction": train_fraction, "cut": cut,
                  "total_tokens": total},
        "splits": {
            "train": _split_entry("train", split.train_tokens, text_bytes - split.val_bytes,
                                  split.train_offsets, hashes),
            "val": _split_entry("val", split.val_tokens, split.val_bytes, split.val_offsets,
                                hashes),
        },
        "encoding": {"seconds": round(seconds, 3),
                     "tokens_per_second": round(total / max(seconds, 1e-9))},
        "recipe": recipe,
    }
    manifest["data_sha256"] = data_sha256(data_files(manifest))
    return manifest


def _split_entry(name: str, tokens: int, text_bytes: int, offsets: np.ndarray,
                 hashes: dict[str, str]) -> dict:
    offsets_file = f"{name}_doc_offsets.npy"
    return {"file": f"{name}.bin", "tokens": tokens, "bytes": text_bytes,
            "documents": len(offsets), "doc_offsets_file": offsets_file,
            "sha256": hashes[f"{name}.bin"], "doc_offsets_sha256": hashes[offsets_file]}


def _batches(corpus: CorpusSource, sources: list[dict]) -> Iterator[tuple[list[int], list[str]]]:
    """Group non-empty documents into batches of about BATCH_CHARS characters."""
    labels, texts, size = [], [], 0
    for label, text in corpus.labelled_documents():
        if not text:
            sources[label]["skipped_empty"] += 1
            continue
        labels.append(label)
        texts.append(text)
        size += len(text)
        if size >= BATCH_CHARS:
            yield labels, texts
            labels, texts, size = [], [], 0
    if texts:
        yield labels, texts


def _publish(staging: Path, out_dir: Path, manifest: dict) -> None:
    """Move the finished files into ``out_dir``; the manifest goes last."""
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # from here on: "not finished"
    for name in OUTPUT_FILES:
        os.replace(staging / name, out_dir / name)
    write_manifest(out_dir, manifest)

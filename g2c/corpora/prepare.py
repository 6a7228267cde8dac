"""``prepare_corpus``: corpus -> tokenizer -> train.bin / val.bin + document index + manifest.

    prepared = prepare_corpus("shakespeare", "data/shakespeare-bpe", tokenizer="bpe", vocab_size=4096)

Two streaming passes, so memory stays flat however big the corpus is:

1. **Tokenizer.** Train it from the document stream (BPE on the first
   ``tokenizer_sample_bytes`` of text — merges settle long before gigabytes;
   a char tokenizer reads everything, as it must see every character), or use
   the one given.
2. **Encode.** Documents are encoded in batches (BPE in parallel on every
   core) and appended to one token file with ``<|endoftext|>`` between them;
   then the file is cut by tokens into train (the first ``train_fraction``)
   and val — see ``token_writer``.

Decisions worth knowing:

* The literal text ``"<|endoftext|>"`` in a document is ordinary text: it
  encodes to ordinary ids, never to ``eot_id``, so it cannot split a
  document. The manifest counts such documents.
* Conversations (JSONL rows with ``messages``, see ``g2c.corpora.chat``) are
  the exception by construction: their ``<|user|>``, ``<|assistant|>`` and
  ``<|end|>`` are written as those special ids, and a char tokenizer trained
  on a corpus that has any reserves them (ids 1..3). The manifest counts
  them (``documents.conversations``).
* Empty documents are skipped and counted (``documents.skipped_empty``); a
  corpus with no text at all is an error.
* Invalid UTF-8 is an error naming the file and byte offset, unless
  ``encoding_errors="replace"``.
* Everything is built in a hidden staging folder inside ``out_dir`` and
  moved into place; ``manifest.json`` comes last, so a crash never leaves a
  directory that looks finished. The staging folder (and ``out_dir``, if
  this call created it) is removed on any failure, Ctrl-C included; one left
  by a killed process is removed by the next prepare into ``out_dir``
  (``g2c.atomic_files``). An ``out_dir`` that
  cannot be written (a file in the way, no permission) is a ValueError before
  any text is read.
* Re-running with the same recipe (same inputs — see each source's
  fingerprint — tokenizer request, fraction) returns the existing result
  without recomputing it, after checking every file against its sha256 in the
  manifest: a changed file (bytes flipped on disk, an edit) is reported in
  one warning line and the directory is rebuilt.
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
    """Prepare ``source`` into ``out_dir`` (or reuse a finished, matching result there).

    Args:
        source: a built-in name, a path, ``"hf:NAME"``, a mixture spec or a
            :class:`CorpusSource` — see :func:`g2c.corpora.resolve_source`.
        out_dir: the directory to write (created if needed).
        tokenizer: ``"bpe"`` (train the course's byte-level BPE), ``"char"``
            (train a character tokenizer), a tokenizer JSON path, or a
            tokenizer object to use as is.
        vocab_size: BPE vocabulary (default 4096, from 260 to 2**20 — see
            ``g2c.tokenizer.bpe.MAX_VOCAB_SIZE``); not used by ``"char"``,
            whose vocabulary is the corpus' alphabet + 1.
        train_fraction: train = the first ``int(n * train_fraction)`` tokens.
        progress: show progress bars (documents, tokens, tokens/s) on stderr.
        overwrite: replace a prepared corpus in ``out_dir`` made from a
            different recipe (without it, that is an error).
        separator, text_field, encoding_errors, download, stopping: passed to
            ``resolve_source`` for local files, tinyshakespeare and mixtures.
        tokenizer_sample_bytes: text bytes the BPE is trained on (the start
            of the stream).
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

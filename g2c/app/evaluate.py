"""Score a trained model on any corpus: loss, perplexity and bits per byte.

The module's question — *corpus choice shapes model behaviour* — compares
models across tokenizers, so the score is **bits per byte** of the text.

* The scored text is the corpus's last 10% of characters, from the next
  whitespace on (or all of it, ``whole=True``): defined on text, so every
  model is scored on the same bytes.
* It is re-encoded with the model's tokenizer, documents joined by
  ``<|endoftext|>`` and one in front, so every text token is predicted once;
  windows of ``max_seq_len`` overlap by one token.
* Characters a char model has no id for are left out, and reported.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from g2c.app.artifact import load_artifact
from g2c.app.recipe import read_recipe
from g2c.corpora import resolve_source
from g2c.token_split import split_point
from g2c.training.device import select_device
from g2c.training.evaluation import ValidationSet, evaluate, validation_windows
from g2c.validation import require_positive_int

EVAL_FRACTION = 0.9  # the validation split: text after the first 90% of characters


@dataclass(frozen=True)
class CorpusScore:
    """How well one model predicts one corpus's text."""

    corpus: str
    split: str  # "validation" or "all"
    tokens: int  # predictions scored
    bytes: int  # UTF-8 bytes of the scored text
    loss: float  # nats per token
    perplexity: float  # exp(loss)
    bits_per_byte: float
    characters_left_out: int  # text the model's character vocabulary cannot encode
    unknown_characters: list  # a few of them, distinct

    def row(self) -> dict:
        return dict(self.__dict__)


def evaluation_documents(source, *, whole: bool = False) -> list[str]:
    """The documents of ``source`` (a SOURCE spec or a CorpusSource) that get scored."""
    corpus = resolve_source(source) if isinstance(source, (str, os.PathLike)) else source
    if whole:
        return [document for document in corpus.documents() if document]
    lengths = [len(document) for document in corpus.documents()]
    cut = split_point(sum(lengths), EVAL_FRACTION)
    kept, before = [], 0
    for document, length in zip(corpus.documents(), lengths):
        if before + length > cut:
            start = max(cut - before, 0)
            if start:  # inside this document: from the next word on
                space = re.search(r"\s", document[start:])
                start = len(document) if space is None else start + space.end()
            if document[start:]:
                kept.append(document[start:])
        before += length
    if not kept:
        raise ValueError(f"corpus {corpus.name!r} has no text after its first "
                         f"{EVAL_FRACTION:.0%}; score it whole (--all)")
    return kept


def _encodable(documents: list[str], tokenizer) -> tuple[list[str], int, list[str]]:
    """Drop the characters a char tokenizer cannot encode; count them and name a few."""
    alphabet = getattr(tokenizer, "alphabet", None)
    if alphabet is None:  # byte-level BPE: every text encodes
        return documents, 0, []
    known = set(alphabet)
    unknown = sorted({c for document in documents for c in set(document) - known})
    if not unknown:
        return documents, 0, []
    table = str.maketrans(dict.fromkeys(unknown))
    kept = [document.translate(table) for document in documents]
    left_out = sum(map(len, documents)) - sum(map(len, kept))
    return kept, left_out, unknown[:20]


def score_documents(model, tokenizer, documents: list[str], *, batch_size: int = 16,
                    device: str = "cpu") -> tuple[float, int, int]:
    """(total loss in nats, tokens predicted, bytes) of ``documents`` under ``model``."""
    batch_size = require_positive_int("batch_size", batch_size)
    ids = [tokenizer.eot_id]
    for document in documents:
        ids += tokenizer.encode(document) + [tokenizer.eot_id]
    ids = torch.tensor(ids[:-1], dtype=torch.long)  # no separator after the last document
    targets_bytes = int(tokenizer.token_byte_lengths()[ids[1:].numpy()].sum())
    window = model.max_seq_len
    full = (len(ids) - 1) // window  # windows of T+1 tokens, each overlapping the next by one
    parts = [validation_windows(ids, window)] if full else []
    rest = ids[full * window:]  # the shorter last window
    if len(rest) > 1:
        parts.append(ValidationSet(rest[None, :-1], rest[None, 1:]))
    model.to(device)
    total = sum(evaluate(model, part, batch_size=batch_size, device=torch.device(device))
                * part.num_tokens for part in parts)
    return total, len(ids) - 1, targets_bytes


def evaluate_model(model, tokenizer, source, *, whole: bool = False, batch_size: int = 16,
                   device: str = "cpu", name: str | None = None) -> CorpusScore:
    """Score ``model`` (with its ``tokenizer``) on a corpus; see the module docstring."""
    documents, left_out, unknown = _encodable(evaluation_documents(source, whole=whole),
                                              tokenizer)
    nats, tokens, num_bytes = score_documents(model, tokenizer, documents,
                                              batch_size=batch_size, device=device)
    loss = nats / tokens
    return CorpusScore(corpus=name or str(source), split="all" if whole else "validation",
                       tokens=tokens, bytes=num_bytes, loss=loss, perplexity=math.exp(loss),
                       bits_per_byte=nats / math.log(2) / max(num_bytes, 1),
                       characters_left_out=left_out, unknown_characters=unknown)


def evaluate_artifact(artifact, corpora: list, *, whole: bool = False, batch_size: int = 16,
                      device: str = "cpu") -> list[CorpusScore]:
    """Score the model in ``artifact`` on each corpus (default: its own training corpus)."""
    model, tokenizer, _ = load_artifact(artifact)
    if not corpora:
        recipe_path = Path(artifact) / "run.toml"
        if not recipe_path.is_file():
            raise ValueError(f"{artifact} has no run.toml naming its corpus; name one with "
                             f"--corpus SOURCE")
        corpora = [read_recipe(recipe_path)["corpus"]]
    resolved = select_device(device)
    return [evaluate_model(model, tokenizer, corpus, whole=whole, batch_size=batch_size,
                           device=resolved) for corpus in corpora]


def score_table(scores: list[CorpusScore]) -> str:
    """The scores as an aligned text table (one row per corpus)."""
    lines = [f"{'corpus':32s} {'split':10s} {'tokens':>10s} {'bytes':>10s} {'loss':>7s} "
             f"{'ppl':>8s} {'bits/byte':>9s}  left out"]
    for s in scores:
        left = "" if not s.characters_left_out else (
            f"{s.characters_left_out:,} chars: {''.join(s.unknown_characters)!r}")
        lines.append(f"{s.corpus[-32:]:32s} {s.split:10s} {s.tokens:10,d} {s.bytes:10,d} "
                     f"{s.loss:7.4f} {s.perplexity:8.2f} {s.bits_per_byte:9.4f}  {left}")
    return "\n".join(lines)

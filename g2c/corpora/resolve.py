"""Turn what the user typed (``--corpus SOURCE``) into a :class:`CorpusSource`.

    "shakespeare"                    the built-in plays (offline, the default)
    "tinyshakespeare"                the canonical char-rnn file (verified by sha256)
    "notes.txt", "data.jsonl.gz"     a local file (.jsonl rows: "text", or "messages" for a chat)
    "notes/"                         a folder of .txt/.md files
    "hf:roneneldan/TinyStories"      a Hugging Face dataset, streamed ("hf:NAME@SPLIT" for a split)
    "hf:data/stories"                local data files or a save_to_disk folder, via ``datasets``
    "shakespeare=0.7,notes/=0.3"     a mixture: SOURCE=WEIGHT pairs joined by commas

In Python a mixture may also be a dict or a list of ``(source, weight)`` pairs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from g2c.corpora.huggingface import HuggingFaceSource
from g2c.corpora.local import DirectorySource, LocalFileSource
from g2c.corpora.manifest import is_prepared_dir
from g2c.corpora.mixture import MixtureSource
from g2c.corpora.shakespeare import ShakespeareSource
from g2c.corpora.source import CorpusSource
from g2c.corpora.text_files import check_errors_mode
from g2c.corpora.tinyshakespeare import TinyShakespeareSource

BUILTIN_NAMES = ("shakespeare", "tinyshakespeare")


def resolve_source(
    source,
    *,
    separator: str | None = None,
    text_field: str = "text",
    encoding_errors: str = "strict",
    download: bool = False,
    stopping: str = "first_exhausted",
) -> CorpusSource:
    """Return the :class:`CorpusSource` that ``source`` names (see the module docstring)."""
    check_errors_mode(encoding_errors)
    options = dict(separator=separator, text_field=text_field, encoding_errors=encoding_errors,
                   download=download)
    if isinstance(source, CorpusSource):
        return source
    if isinstance(source, Mapping):
        pairs = list(source.items())
    elif isinstance(source, (list, tuple)):
        pairs = list(source)
        if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in pairs):
            raise TypeError(f"a mixture list must hold (source, weight) pairs; got {source!r}")
    elif isinstance(source, (str, os.PathLike)):
        single = _resolve_named(os.fspath(source), **options)
        if single is not None:
            return single
        pairs = _parse_mixture(os.fspath(source))
    else:
        raise TypeError(
            f"source must be a name, a path, a mixture dict or a CorpusSource; got "
            f"{type(source).__name__}"
        )
    return MixtureSource(
        [(resolve_source(spec, **options), weight) for spec, weight in pairs], stopping=stopping
    )


def _resolve_named(text: str, *, separator, text_field, encoding_errors, download):
    """A built-in, hf: or path source; None when ``text`` looks like a mixture spec."""
    if text == "shakespeare":
        return ShakespeareSource()
    if text == "tinyshakespeare":
        return TinyShakespeareSource(download=download)
    if text.startswith("hf:"):
        dataset, _, split = text[3:].partition("@")
        return HuggingFaceSource(dataset, split=split or "train", text_field=text_field)
    path = Path(text).expanduser()
    if is_prepared_dir(path):
        raise ValueError(
            f"corpus {text!r} is a directory written by g2c prepare (its manifest.json says "
            f"so), not text to prepare; use it where prepared data is expected: g2c pretrain "
            f"--corpus {text}, or g2c.corpora.open_prepared"
        )
    if path.is_dir():
        return DirectorySource(path, errors=encoding_errors)
    if path.is_file():
        return LocalFileSource(path, separator=separator, text_field=text_field,
                               errors=encoding_errors)
    if "=" in text:
        return None
    raise FileNotFoundError(
        f"corpus {text!r} is not a built-in name ({', '.join(BUILTIN_NAMES)}), an existing "
        f"file or directory, 'hf:DATASET', or a mixture like 'shakespeare=0.7,notes/=0.3'"
    )


def _parse_mixture(spec: str) -> list[tuple[str, float]]:
    pairs = []
    for part in spec.split(","):
        name, equals, weight = part.strip().rpartition("=")
        try:
            value = float(weight)
        except ValueError:
            value = None
        if not equals or not name or value is None:
            raise ValueError(
                f"bad mixture part {part!r} in {spec!r}: expected SOURCE=WEIGHT, e.g. "
                f"'shakespeare=0.7,notes/=0.3'"
            )
        pairs.append((name, value))
    return pairs

"""``manifest.json``: what went into a prepared corpus, and the proof that it is finished.

The manifest is written **last**, atomically, after every other file is in
place — so its presence is the "finished" mark, and a directory without one
(an interrupted run) is never taken for a result. It records:

* ``recipe`` — everything that determines the output (source fingerprint,
  tokenizer request, train_fraction, g2c version). Re-running with an equal
  recipe reuses the directory; a different recipe refuses to overwrite it
  unless asked.
* ``corpus`` — name, per-source weights, documents, bytes, tokens and the
  realised token fractions; ``documents`` — kept, skipped-empty, how many
  were conversations (chat tokens as special ids) and how many others
  contained special-token text (encoded as ordinary text).
* ``tokenizer`` — kind, file, vocab size, eot id and fingerprint (sha256);
  ``dtype``; ``split`` — the contiguous rule and the cut.
* ``splits`` — per split: file, tokens, text bytes, documents, offsets file
  and sha256.
* ``created`` (UTC, ISO 8601) and ``g2c_version``.
"""

from __future__ import annotations

import json
from pathlib import Path

from g2c.atomic_files import atomic_write_text

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "g2c-prepared-corpus"
MANIFEST_VERSION = 1


def write_manifest(directory: Path, manifest: dict) -> Path:
    return atomic_write_text(directory / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")


def read_manifest(directory: str | Path) -> dict:
    """Parse ``directory/manifest.json``; FileNotFoundError if absent, ValueError if foreign."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no finished prepared corpus in {directory}: {MANIFEST_NAME} is missing (an "
            f"interrupted run leaves none); run g2c prepare --out {directory}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a g2c manifest (not valid JSON: {error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f'{path} is not a g2c prepared-corpus manifest (no "format": '
                         f'"{MANIFEST_FORMAT}")')
    if manifest.get("format_version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: unsupported manifest version "
                         f"{manifest.get('format_version')!r} (this g2c reads {MANIFEST_VERSION})")
    return manifest


def recipe_differences(old: dict, new: dict) -> list[str]:
    """Names of the recipe entries that differ, e.g. ``["source", "train_fraction"]``."""
    keys = sorted(set(old) | set(new))
    return [key for key in keys if old.get(key) != new.get(key)]

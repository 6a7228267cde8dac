"""``manifest.json``: what went into a prepared corpus, and the proof that it is finished.

Written **last**, atomically, so its presence is the "finished" mark. It
records the ``recipe`` (what determines the output: equal recipes reuse the
directory), per-source counts, the tokenizer, the split, every data file's
sha256 and ``data_sha256``, one hash of them all: what identifies a training
run's data, whatever the source files' names or times.

Why sha256 rather than BLAKE2? On the 2-core development VM (1 GiB, warm
cache) sha256 took 1.0–1.9 s and blake2b 2.1–4.2 s: OpenSSL's sha256 uses the
CPU's SHA instructions, hashlib's blake2b has no SIMD path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from g2c.atomic_files import atomic_write_text

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "g2c-prepared-corpus"
MANIFEST_VERSION = 2  # 2: every data file's sha256, and data_sha256


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


def is_prepared_dir(path: str | os.PathLike) -> bool:
    """True if ``path`` is a folder whose ``manifest.json`` says it is a prepared corpus (of any
    format version: ``open_prepared`` then says whether this g2c reads it)."""
    try:
        manifest = json.loads((Path(path) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT


def sha256_file(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def data_files(manifest: dict) -> dict[str, str]:
    """``{file name: sha256}`` of every data file ``manifest`` records (KeyError if one lacks it)."""
    files = {manifest["tokenizer"]["file"]: manifest["tokenizer"]["file_sha256"]}
    for split in manifest["splits"].values():
        files[split["file"]] = split["sha256"]
        files[split["doc_offsets_file"]] = split["doc_offsets_sha256"]
    return files


def data_sha256(files: dict[str, str]) -> str:
    """One sha256 for a set of files: of the lines ``"<name> <sha256>"``, sorted by name."""
    lines = "".join(f"{name} {files[name]}\n" for name in sorted(files))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def recipe_differences(old: dict, new: dict) -> list[str]:
    """Names of the recipe entries that differ, e.g. ``["source", "train_fraction"]``."""
    keys = sorted(set(old) | set(new))
    return [key for key in keys if old.get(key) != new.get(key)]

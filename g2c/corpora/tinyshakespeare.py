"""TinyShakespeare: the canonical 1,115,394-byte char-rnn file, checked by sha256.

Looked for in an explicit ``path``, ``$G2C_DATA_DIR`` and the user cache;
fetched into the cache only with ``download=True``. Whatever the origin, the
bytes must hash to :data:`SHA256`, or a truncated or edited copy would quietly
change every result. The file is one document.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from g2c.atomic_files import atomic_write_bytes
from g2c.corpora.source import CorpusSource

FILENAME = "tinyshakespeare.txt"
SIZE = 1_115_394
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/g2c`` or ``~/.cache/g2c``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "g2c"


def candidate_paths(path: str | os.PathLike | None = None) -> list[Path]:
    candidates = [Path(path)] if path is not None else []
    if os.environ.get("G2C_DATA_DIR"):
        candidates.append(Path(os.environ["G2C_DATA_DIR"]) / FILENAME)
    candidates.append(cache_dir() / FILENAME)
    return candidates


def check_tinyshakespeare_bytes(data: bytes, origin: str) -> bytes:
    """Return ``data`` if it is exactly the canonical file, else raise ValueError."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ValueError(
            f"{origin} is not the canonical tinyshakespeare file: {len(data):,} bytes with "
            f"sha256 {digest}, expected {SIZE:,} bytes with sha256 {SHA256}"
        )
    return data


def download_tinyshakespeare(url: str | None = None, *, timeout: float = 60.0) -> Path:
    """Fetch the file (from :data:`URL` by default) into :func:`cache_dir`, verify it."""
    url = url or URL
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise FileNotFoundError(
            f"could not download tinyshakespeare from {url} ({error}); are you offline? "
            f"Copy the file to {cache_dir() / FILENAME} or point G2C_DATA_DIR at a folder "
            f"holding {FILENAME}"
        ) from None
    return atomic_write_bytes(cache_dir() / FILENAME, check_tinyshakespeare_bytes(data, url))


def find_tinyshakespeare(path: str | os.PathLike | None = None, *, download: bool = False) -> Path:
    """Path of a verified local copy (downloading it only if ``download``)."""
    searched = candidate_paths(path)
    for candidate in searched:
        if candidate.is_file():
            check_tinyshakespeare_bytes(candidate.read_bytes(), str(candidate))
            return candidate
        if path is not None and candidate == Path(path):
            raise FileNotFoundError(f"tinyshakespeare file not found: {candidate}")
    if download:
        return download_tinyshakespeare()
    raise FileNotFoundError(
        "tinyshakespeare is not on this machine (looked in: "
        + ", ".join(str(p) for p in searched)
        + "); set G2C_DATA_DIR to a folder holding tinyshakespeare.txt, or allow the "
        "download with download=True (g2c prepare --download)"
    )


class TinyShakespeareSource(CorpusSource):
    """The verified tinyshakespeare file as one document."""

    name = "tinyshakespeare"

    def __init__(self, path: str | os.PathLike | None = None, *, download: bool = False):
        self.path = path
        self.download = download

    def documents(self) -> Iterator[str]:
        data = find_tinyshakespeare(self.path, download=self.download).read_bytes()
        yield check_tinyshakespeare_bytes(data, "tinyshakespeare").decode("utf-8")

    def fingerprint(self) -> dict:
        # The content is pinned by its hash, so the hash alone identifies it.
        find_tinyshakespeare(self.path, download=self.download)
        return {"kind": "tinyshakespeare", "sha256": SHA256}

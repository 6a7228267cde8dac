"""A corpus source: something that yields documents, one string each.

Every source answers three questions:

* ``documents()`` — the text, streamed: one ``str`` per document, never the
  whole corpus at once;
* ``fingerprint()`` — a small JSON-able dict that changes whenever the input
  changes (file sizes and modification times, a checksum, a package
  version); ``prepare_corpus`` reuses a finished result only when the
  fingerprint still matches;
* ``components`` / ``labelled_documents()`` — which part of a mixture each
  document came from, so the manifest can report per-source counts. A plain
  source is a mixture of one: every document has label 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator


class CorpusSource(ABC):
    """Base class of every corpus source in ``g2c.corpora``."""

    name: str

    @abstractmethod
    def documents(self) -> Iterator[str]:
        """Yield each document as one string."""

    @abstractmethod
    def fingerprint(self) -> dict:
        """What identifies this input; equal fingerprints mean unchanged inputs."""

    @property
    def components(self) -> tuple[CorpusSource, ...]:
        return (self,)

    @property
    def weights(self) -> tuple[float, ...]:
        return (1.0,)

    def labelled_documents(self) -> Iterator[tuple[int, str]]:
        """Yield ``(component index, document)`` pairs."""
        for document in self.documents():
            yield 0, document

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

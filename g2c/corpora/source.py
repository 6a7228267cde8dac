"""A corpus source: documents streamed one string each, and a fingerprint of the input.

``prepare_corpus`` reuses a finished result only while the fingerprint (file
sizes and times, a checksum, a package version) still matches. A plain source
is a mixture of one: ``labelled_documents`` labels every document 0.
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

"""A weighted mixture of corpus sources — "corpus selection is model behaviour selection".

Weights are target shares of **text bytes** — not tokens: the mix is fixed
before any tokenizer exists. Whole documents are drawn, always from the
source furthest below its share so far (the smallest bytes/weight; ties: the
first listed), so the mix is even throughout the stream and the same every run.

When a source runs out, ``stopping="first_exhausted"`` ends the mixture (the
shares hold, but a tiny source caps the mix); ``"all_exhausted"`` repeats it
until every source has been used up once (upsampling, as in GPT-3's mix).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from g2c.corpora.source import CorpusSource
from g2c.validation import require_choice

STOPPING_RULES = ("first_exhausted", "all_exhausted")


class MixtureSource(CorpusSource):
    """Interleave documents of several sources by byte shares (see the module docstring)."""

    def __init__(
        self,
        components: Sequence[tuple[CorpusSource, float]],
        *,
        stopping: str = "first_exhausted",
    ):
        if not components:
            raise ValueError("a mixture needs at least one (source, weight) pair; got none")
        for source, weight in components:
            if not isinstance(source, CorpusSource):
                raise TypeError(f"mixture sources must be CorpusSource objects; got {source!r}")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (
                math.isfinite(weight) and weight > 0
            ):
                raise ValueError(f"mixture weight for {source.name!r} must be a positive "
                                 f"number; got {weight!r}")
        require_choice("stopping", stopping, STOPPING_RULES)
        total = float(sum(weight for _, weight in components))
        self._sources = tuple(source for source, _ in components)
        self._weights = tuple(weight / total for _, weight in components)
        self.stopping = stopping
        self.name = ",".join(f"{s.name}={w:g}" for s, w in zip(self._sources, self._weights))

    components = property(lambda self: self._sources, doc="the mixed sources, in order")
    weights = property(lambda self: self._weights, doc="their shares, summing to 1")

    def labelled_documents(self) -> Iterator[tuple[int, str]]:
        count = len(self._sources)
        streams = [iter(source.documents()) for source in self._sources]
        drawn = [0] * count  # bytes drawn so far, per source
        this_pass = [0] * count  # bytes drawn since the source last started over
        exhausted = [False] * count
        while True:
            index = min(range(count), key=lambda i: drawn[i] / self._weights[i])
            try:
                document = next(streams[index])
            except StopIteration:
                if this_pass[index] == 0:
                    raise ValueError(
                        f"mixture source {self._sources[index].name!r} yielded no text"
                    ) from None
                exhausted[index] = True
                if self.stopping == "first_exhausted" or all(exhausted):
                    return
                streams[index] = iter(self._sources[index].documents())
                this_pass[index] = 0
                continue
            size = len(document.encode("utf-8"))
            drawn[index] += size
            this_pass[index] += size
            yield index, document

    def documents(self) -> Iterator[str]:
        for _, document in self.labelled_documents():
            yield document

    def fingerprint(self) -> dict:
        return {
            "kind": "mixture",
            "stopping": self.stopping,
            "components": [
                {"weight": weight, "source": source.fingerprint()}
                for source, weight in zip(self._sources, self._weights)
            ],
        }

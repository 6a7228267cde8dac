"""Weighted mixtures: byte shares follow the weights, evenly and deterministically."""

import pytest

from g2c.corpora import CorpusSource, MixtureSource


class ListSource(CorpusSource):
    def __init__(self, name, documents):
        self.name = name
        self._documents = list(documents)

    def documents(self):
        return iter(self._documents)

    def fingerprint(self):
        return {"kind": "list", "name": self.name, "documents": self._documents}


def shares(pairs, count):
    sizes = [0] * count
    for label, text in pairs:
        sizes[label] += len(text.encode("utf-8"))
    return [size / sum(sizes) for size in sizes]


def test_byte_shares_follow_the_weights_all_along_the_stream():
    big = ListSource("big", [f"story {i} " * 10 for i in range(400)])  # ~100 bytes each
    small = ListSource("small", ["é" * 30 for _ in range(400)])  # 60 bytes each
    mixture = MixtureSource([(big, 3), (small, 1)])
    pairs = list(mixture.labelled_documents())
    assert mixture.weights == (0.75, 0.25)
    for prefix in (40, 200, len(pairs)):  # even throughout, not one source then the other
        assert shares(pairs[:prefix], 2)[0] == pytest.approx(0.75, abs=0.03)


def test_first_exhausted_stops_when_one_source_runs_out():
    a = ListSource("a", ["aaaa"] * 3)
    b = ListSource("b", ["bbbb"] * 100)
    pairs = list(MixtureSource([(a, 1), (b, 1)]).labelled_documents())
    assert [label for label, _ in pairs].count(0) == 3
    assert [label for label, _ in pairs].count(1) in (3, 4)


def test_all_exhausted_upsamples_the_small_source():
    a = ListSource("a", ["a1", "a2"])
    b = ListSource("b", [f"b{i}" for i in range(10)])
    pairs = list(MixtureSource([(a, 1), (b, 1)], stopping="all_exhausted").labelled_documents())
    texts = [text for _, text in pairs]
    assert all(f"b{i}" in texts for i in range(10))  # the big source is used up
    assert texts.count("a1") >= 4  # the small one repeated to keep its share
    assert shares(pairs, 2)[0] == pytest.approx(0.5, abs=0.1)


def test_mixtures_are_deterministic():
    parts = [(ListSource("a", ["x" * n for n in range(1, 50)]), 2),
             (ListSource("b", ["y" * n for n in range(50, 1, -1)]), 1)]
    assert list(MixtureSource(parts).labelled_documents()) == list(
        MixtureSource(parts).labelled_documents()
    )


def test_a_source_without_text_is_an_error():
    empty = ListSource("empty", ["", ""])
    fine = ListSource("fine", ["text"] * 5)
    with pytest.raises(ValueError, match="mixture source 'empty' yielded no text"):
        list(MixtureSource([(fine, 1), (empty, 1)], stopping="all_exhausted").documents())


@pytest.mark.parametrize("components, kwargs, error, match", [
    ([], {}, ValueError, "at least one"),
    ([("not a source", 1)], {}, TypeError, "CorpusSource"),
    ([(ListSource("a", ["x"]), 0)], {}, ValueError, "positive number"),
    ([(ListSource("a", ["x"]), float("nan"))], {}, ValueError, "positive number"),
    ([(ListSource("a", ["x"]), 1)], {"stopping": "never"}, ValueError, "stopping"),
])
def test_bad_mixtures(components, kwargs, error, match):
    with pytest.raises(error, match=match):
        MixtureSource(components, **kwargs)


def test_fingerprint_includes_weights_and_components():
    a, b = ListSource("a", ["x"]), ListSource("b", ["y"])
    assert MixtureSource([(a, 1), (b, 1)]).fingerprint() != MixtureSource(
        [(a, 2), (b, 1)]).fingerprint()
    assert MixtureSource([(a, 1), (b, 1)]).fingerprint() == MixtureSource(
        [(a, 5), (b, 5)]).fingerprint()

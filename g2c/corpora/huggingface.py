"""A Hugging Face ``datasets`` dataset as a corpus source (optional; e.g. TinyStories).

    HuggingFaceSource("roneneldan/TinyStories", split="train")      spec: "hf:roneneldan/TinyStories"

``datasets`` is not a g2c dependency: install it yourself and download the
data once; after that, set ``HF_DATASETS_OFFLINE=1`` so nothing touches the
network. The tests never need it.
"""

from __future__ import annotations

from collections.abc import Iterator

from g2c.corpora.source import CorpusSource


class HuggingFaceSource(CorpusSource):
    """Rows of a ``datasets`` split; each row's ``text_field`` is one document."""

    def __init__(self, dataset: str, *, split: str = "train", config: str | None = None,
                 text_field: str = "text"):
        self.dataset, self.split, self.config, self.text_field = dataset, split, config, text_field
        self.name = f"hf:{dataset}" + (f"@{split}" if split != "train" else "")

    def _load(self):
        try:
            import datasets
        except ImportError:
            raise ValueError(
                f"corpus {self.name!r} needs the optional 'datasets' package "
                "(pip install datasets), with the dataset downloaded to its cache"
            ) from None
        return datasets.load_dataset(self.dataset, self.config, split=self.split)

    def documents(self) -> Iterator[str]:
        for number, row in enumerate(self._load()):
            text = row.get(self.text_field) if isinstance(row, dict) else None
            if not isinstance(text, str):
                raise ValueError(
                    f"{self.name} row {number}: expected a string field {self.text_field!r}; "
                    f"got {type(text).__name__}"
                )
            yield text

    def fingerprint(self) -> dict:
        return {
            "kind": "huggingface",
            "dataset": self.dataset,
            "config": self.config,
            "split": self.split,
            "text_field": self.text_field,
            # datasets' own content hash of the cached data (None for plain iterables).
            "fingerprint": getattr(self._load(), "_fingerprint", None),
        }

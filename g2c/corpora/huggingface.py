"""A Hugging Face ``datasets`` dataset as a corpus source, streamed row by row.

    hf:roneneldan/TinyStories              a dataset on the Hub, or in the local datasets cache
    hf:roneneldan/TinyStories@validation   another split ("@SPLIT"; the default is train)
    hf:/data/stories                       a local folder of data files (.parquet, .jsonl,
                                           .csv, .arrow, .txt, ...), or one such file
    hf:/data/saved                         a folder written by Dataset(Dict).save_to_disk

Each row's ``text_field`` is one document; local data holds one split,
``train`` (a saved ``DatasetDict``: its own splits). Rows are streamed by the
builder's streaming reader, never a whole split in memory, so a multi-gigabyte
dataset keeps a flat RSS. Offline, a Hub name works only from the datasets
cache; otherwise one ValueError line says how to get it. The fingerprint is
the builder's config id and hash (the revision, or local files' paths and
times). ``datasets`` (``pip install 'g2c[hf]'``) is imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from g2c.corpora.source import CorpusSource

SAVED_DATASET_FILES = ("state.json", "dataset_dict.json")  # what save_to_disk writes


class HuggingFaceSource(CorpusSource):
    """Rows of a ``datasets`` split, streamed; each row's ``text_field`` is one document."""

    def __init__(self, dataset: str, *, split: str = "train", config: str | None = None,
                 text_field: str = "text"):
        self.dataset, self.split, self.config, self.text_field = dataset, split, config, text_field
        self.name = f"hf:{dataset}" + (f"@{split}" if split != "train" else "")

    def rows(self):
        builder = self._builder()
        try:
            return builder.as_streaming_dataset(split=self.split)
        except ValueError as error:  # e.g. "Bad split: test. Available splits: ['train']"
            raise ValueError(f"{self.name}: {error}") from None

    def documents(self) -> Iterator[str]:
        try:
            for number, row in enumerate(self.rows()):
                text = row.get(self.text_field)
                if not isinstance(text, str):
                    raise ValueError(
                        f"{self.name} row {number}: expected a string field {self.text_field!r}; "
                        f"got {type(text).__name__} (columns: {sorted(row)[:8]})"
                    )
                yield text
        except OSError as error:  # the network went away while streaming
            raise ValueError(self._unavailable(error)) from None

    def fingerprint(self) -> dict:
        return {
            "kind": "huggingface",
            "dataset": self.dataset,
            "config": self.config,
            "split": self.split,
            "text_field": self.text_field,
            "builder": _builder_identity(self._builder()),
        }

    def _builder(self):
        try:
            import datasets
        except ImportError:
            raise ValueError(
                f"corpus {self.name!r} needs the optional 'datasets' package "
                f"(pip install 'g2c[hf]'), or use a local .txt/.jsonl file instead"
            ) from None
        local = Path(self.dataset).expanduser()
        try:
            if any((local / name).is_file() for name in SAVED_DATASET_FILES):
                return datasets.load_dataset_builder(
                    "arrow", data_files=self._saved_data_files(datasets, local))
            if local.is_file():
                return datasets.load_dataset_builder(str(local.parent),
                                                     data_files={"train": local.name})
            return datasets.load_dataset_builder(self.dataset, self.config)
        except OSError as error:  # not found locally, and the Hub unreachable or offline
            raise ValueError(self._unavailable(error)) from None

    def _saved_data_files(self, datasets, folder: Path) -> dict[str, list[str]]:
        """{split: its Arrow files} of a ``save_to_disk`` folder (memory-mapped, not read)."""
        saved = datasets.load_from_disk(str(folder))
        if not isinstance(saved, datasets.DatasetDict):
            return {"train": [entry["filename"] for entry in saved.cache_files]}
        if self.split not in saved:
            raise ValueError(f"{self.name}: no split {self.split!r} in {folder}; "
                             f"available: {', '.join(saved)}")
        return {self.split: [entry["filename"] for entry in saved[self.split].cache_files]}

    def _unavailable(self, error: OSError) -> str:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if self.dataset.startswith(("/", ".", "~")) or self.dataset.count("/") > 1:
            return (f"{self.name}: {reason} ({type(error).__name__}); expected a data file, a "
                    f"folder of data files or a save_to_disk folder")
        return (
            f"{self.name}: cannot load {self.dataset!r} ({type(error).__name__}: {reason}); it is "
            f"not a local dataset path nor in the Hugging Face datasets cache, and the Hub cannot "
            f"be reached (offline, HF_DATASETS_OFFLINE=1 or HF_HUB_OFFLINE=1?). Get it once "
            f"online with `hf download {self.dataset} --repo-type dataset --local-dir DIR` and "
            f"use --corpus hf:DIR, or use local files: --corpus hf:PATH (a folder of "
            f".parquet/.jsonl files or a save_to_disk folder) or --corpus FILE.jsonl"
        )


def _builder_identity(builder) -> str:
    # Which of the two carries the data files' identity depends on how the
    # builder was found (a folder: the hash; data files given: the config id).
    return f"{builder.config_id}/{builder.hash}"

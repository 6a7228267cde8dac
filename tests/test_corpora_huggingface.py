"""hf: sources through the real ``datasets`` library, on datasets built here, offline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")  # in the dev extra; g2c itself does not need it
import datasets.config  # noqa: E402
import huggingface_hub.constants  # noqa: E402

from g2c.cli import main as g2c_main  # noqa: E402
from g2c.corpora import (  # noqa: E402
    HuggingFaceSource,
    open_prepared,
    prepare_corpus,
    resolve_source,
)


@pytest.fixture(autouse=True)
def offline_hf(tmp_path, monkeypatch):
    """No network, and every Hugging Face cache inside tmp_path."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Both libraries read these once, when first imported: set them for this test too.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home / "datasets")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))
    return home


STORIES = [f"Once upon a time, story number {i} ended well." for i in range(12)]


def write_jsonl_shards(folder, texts, shards=3):
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        rows = texts[shard::shards]
        (folder / f"part-{shard}.jsonl").write_text(
            "".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(rows)))


def test_saved_dataset_dict_streams_each_split(tmp_path):
    folder = tmp_path / "saved"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": STORIES[:8]}),
        "validation": datasets.Dataset.from_dict({"text": STORIES[8:]}),
    }).save_to_disk(folder)
    train = resolve_source(f"hf:{folder}")
    assert isinstance(train.rows(), datasets.IterableDataset)  # streamed, not loaded
    assert list(train.documents()) == STORIES[:8]
    assert list(resolve_source(f"hf:{folder}@validation").documents()) == STORIES[8:]
    with pytest.raises(ValueError, match=r"@test: no split 'test' in .*available: train, valid"):
        resolve_source(f"hf:{folder}@test").fingerprint()


def test_folder_of_parquet_shards_and_a_single_file(tmp_path):
    folder = tmp_path / "parquet"
    folder.mkdir()
    for shard in range(2):
        shard_rows = datasets.Dataset.from_dict({"text": STORIES[shard::2]})
        shard_rows.to_parquet(folder / f"{shard}.parquet")
    streamed = list(resolve_source(f"hf:{folder}").documents())
    assert sorted(streamed) == sorted(STORIES)
    one = resolve_source(f"hf:{folder / '1.parquet'}")
    assert list(one.documents()) == STORIES[1::2]
    with pytest.raises(ValueError, match=r"@validation: Bad split: validation.*'train'"):
        list(resolve_source(f"hf:{folder}@validation").documents())


def test_fingerprint_changes_when_the_data_changes(tmp_path):
    folder = tmp_path / "jsonl"
    write_jsonl_shards(folder, STORIES)
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": STORIES}).save_to_disk(saved)
    sources = [HuggingFaceSource(str(folder)), HuggingFaceSource(str(folder / "part-0.jsonl")),
               HuggingFaceSource(str(saved))]
    before = [source.fingerprint() for source in sources]
    assert [source.fingerprint() for source in sources] == before  # stable when unchanged
    write_jsonl_shards(folder, STORIES[::-1])
    os.utime(folder / "part-0.jsonl", ns=(1, 1))  # a different mtime even on a coarse clock
    datasets.Dataset.from_dict({"text": STORIES[:3]}).save_to_disk(saved)
    after = [source.fingerprint() for source in sources]
    assert all(a != b for a, b in zip(after, before))


def test_prepare_from_a_local_dataset_folder(tmp_path):
    folder = tmp_path / "stories"
    write_jsonl_shards(folder, STORIES, shards=1)
    prepared = prepare_corpus(f"hf:{folder}", tmp_path / "out", tokenizer="char", progress=False)
    ids = np.concatenate([prepared.train, prepared.val])
    assert prepared.tokenizer.decode(ids) == "<|endoftext|>".join(STORIES)
    assert open_prepared(tmp_path / "out").manifest["corpus"]["name"] == f"hf:{folder}"
    # unchanged data: the result is reused; changed data: rebuilt
    assert prepare_corpus(f"hf:{folder}", tmp_path / "out", tokenizer="char",
                          progress=False).manifest == prepared.manifest
    write_jsonl_shards(folder, STORIES[:4], shards=1)
    os.utime(folder / "part-0.jsonl", ns=(1, 1))
    with pytest.raises(FileExistsError, match="differs in: source"):
        prepare_corpus(f"hf:{folder}", tmp_path / "out", tokenizer="char", progress=False)


def test_rows_without_the_text_field_name_the_row(tmp_path):
    folder = tmp_path / "stories"
    datasets.Dataset.from_dict({"story": ["a", "b"]}).save_to_disk(folder)
    with pytest.raises(ValueError, match=r"row 0: expected a string field 'text'.*\['story'\]"):
        list(resolve_source(f"hf:{folder}").documents())


def test_uncached_dataset_offline_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"hf:nobody/absent: cannot load.*hf download nobody/absent"
                                         r".*--corpus hf:PATH"):
        resolve_source("hf:nobody/absent").fingerprint()
    status = g2c_main(["prepare", "--corpus", "hf:nobody/absent", "--out", str(tmp_path / "out"),
                       "--quiet"])
    error = capsys.readouterr().err
    assert status == 2 and "Traceback" not in error
    assert error.count("\n") == 1 and error.startswith("g2c prepare: error: hf:nobody/absent")


def test_missing_local_path_says_what_is_expected(tmp_path):
    with pytest.raises(ValueError, match=r"Couldn't find any data file.*expected a data file"):
        resolve_source(f"hf:{tmp_path / 'nowhere'}").fingerprint()


def test_without_datasets_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ValueError, match=r"'datasets' package \(pip install 'g2c\[hf\]'\)"):
        list(HuggingFaceSource("roneneldan/TinyStories").documents())


def test_core_imports_neither_datasets_nor_transformers():
    code = ("import sys, g2c, g2c.corpora, g2c.cli; g2c.cli.build_parser(); "
            "print(sorted(m for m in ('datasets', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"

"""Prepared corpora are checked by content: sha256 per file, ids below V, the tokenizer asked for.

The failure these guard against: bytes flipped in a cached train.bin (same
size) used to crash later runs with an IndexError, or train on garbage.
"""

import json
import os

import numpy as np
import pytest

from g2c.corpora import (
    PreparedCorpusMismatch,
    is_prepared_dir,
    open_prepared,
    prepare_corpus,
)
from g2c.corpora.manifest import data_files, data_sha256, sha256_file
from g2c.tokenizer import CharTokenizer

DATA_FILES = ["train.bin", "val.bin", "train_doc_offsets.npy", "val_doc_offsets.npy",
              "tokenizer.json"]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "plays.txt"
    path.write_text("\n---\n".join(f"Scene {i}: to be, or not to be, that is the question."
                                   for i in range(40)))
    return path


def prepare(source, out, **kwargs):
    return prepare_corpus(source, out, separator="---", progress=False, **kwargs)


@pytest.mark.parametrize("name", DATA_FILES)
def test_a_flipped_byte_is_refused_by_open_prepared_and_rebuilt_by_prepare(text_file, tmp_path,
                                                                            capsys, name):
    out = tmp_path / "out"
    first = prepare(text_file, out, tokenizer="char")
    original = (out / name).read_bytes()
    damaged = bytearray(original)
    damaged[1] ^= 0xFF  # in train.bin: the high byte of the first id, now far above V
    (out / name).write_bytes(bytes(damaged))

    with pytest.raises(PreparedCorpusMismatch, match=rf"{out}.*: {name} has changed since it was "
                                                     rf"prepared .*; prepare it again"):
        open_prepared(out)
    capsys.readouterr()
    again = prepare(text_file, out, tokenizer="char")  # the same recipe: g2c's cache, rebuilt
    warning = (f"g2c prepare: warning: {out}: {name} has changed since it was prepared (its "
               f"sha256 is not the one in the manifest); rebuilding it")
    assert capsys.readouterr().err.splitlines() == [warning]
    assert (out / name).read_bytes() == original and again.data_hash == first.data_hash


def test_ids_not_below_v_are_refused_even_when_the_hashes_agree(text_file, tmp_path):
    out = tmp_path / "out"
    prepared = prepare(text_file, out, tokenizer="char")
    train = np.fromfile(out / "train.bin", dtype=np.uint16)
    train[5] = prepared.vocab_size  # as a writer with a bug would, recording its hash
    train.tofile(out / "train.bin")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["splits"]["train"]["sha256"] = sha256_file(out / "train.bin")
    manifest["data_sha256"] = data_sha256(data_files(manifest))
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=f"train.bin holds id {prepared.vocab_size}, not below "
                                         f"the tokenizer's vocab_size {prepared.vocab_size}"):
        open_prepared(out)


def test_a_touched_source_is_rebuilt_into_the_same_data_hash(text_file, tmp_path):
    # The run identity is the data hash: touching an unchanged file must not change it.
    out = tmp_path / "out"
    first = prepare(text_file, out, tokenizer="bpe", vocab_size=300)
    stamp = (out / "train.bin").stat().st_mtime_ns
    later = text_file.stat().st_mtime + 100
    os.utime(text_file, (later, later))
    again = prepare(text_file, out, tokenizer="bpe", vocab_size=300, overwrite=True)
    assert (out / "train.bin").stat().st_mtime_ns != stamp  # rebuilt (the mtime is an input)...
    assert again.data_hash == first.data_hash  # ...into the same data
    text_file.write_text(text_file.read_text().replace("question", "answer"))
    changed = prepare(text_file, out, tokenizer="bpe", vocab_size=300, overwrite=True)
    assert changed.data_hash != first.data_hash


def test_is_prepared_dir_knows_a_prepared_directory_by_its_manifest(text_file, tmp_path):
    out = tmp_path / "out"
    prepare(text_file, out, tokenizer="char")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"name": "someone else\'s"}')
    assert is_prepared_dir(out) and is_prepared_dir(str(out))
    assert not is_prepared_dir(foreign)  # another tool's manifest.json
    assert not is_prepared_dir(text_file.parent)  # a folder of text
    assert not is_prepared_dir(text_file) and not is_prepared_dir(tmp_path / "missing")
    (out / "manifest.json").unlink()  # an interrupted prepare is not a prepared corpus
    assert not is_prepared_dir(out)


def test_preparing_a_prepared_directory_says_what_it_is(text_file, tmp_path):
    prepare(text_file, tmp_path / "out", tokenizer="char")
    with pytest.raises(ValueError, match=r"is a directory written by g2c prepare .*g2c pretrain "
                                         r"--corpus"):
        prepare_corpus(tmp_path / "out", tmp_path / "again", progress=False)


def test_open_prepared_refuses_a_tokenizer_other_than_the_one_asked_for(text_file, tmp_path):
    char, bpe = tmp_path / "char", tmp_path / "bpe"
    prepare(text_file, char, tokenizer="char")
    prepared = prepare(text_file, bpe, tokenizer="bpe", vocab_size=4096)
    assert prepared.vocab_size < 4096  # a tiny corpus runs out of merges early
    v = prepared.vocab_size
    assert open_prepared(bpe, tokenizer="bpe", vocab_size=4096).data_hash == prepared.data_hash
    open_prepared(bpe, tokenizer="bpe", vocab_size=v)
    open_prepared(bpe, tokenizer=bpe / "tokenizer.json")
    open_prepared(bpe, tokenizer=prepared.tokenizer)
    open_prepared(char, tokenizer="char")
    with pytest.raises(ValueError, match=rf"{bpe} was prepared with a bpe tokenizer of V={v}, "
                                         r"not the tokenizer 'char' asked for; leave"):
        open_prepared(bpe, tokenizer="char")
    with pytest.raises(ValueError, match=rf"a bpe tokenizer of V={v}, not the vocab_size=8192"):
        open_prepared(bpe, vocab_size=8192)
    with pytest.raises(ValueError, match=rf"a char tokenizer .*not the tokenizer '{bpe}/"):
        open_prepared(char, tokenizer=bpe / "tokenizer.json")
    with pytest.raises(ValueError, match="not the tokenizer CharTokenizer"):
        open_prepared(char, tokenizer=CharTokenizer.train(["xyz"]))
    with pytest.raises(TypeError, match="tokenizer must be 'bpe', 'char', a tokenizer file"):
        open_prepared(char, tokenizer=3)


def test_a_manifest_of_an_older_format_is_replaced_only_when_asked(text_file, tmp_path):
    out = tmp_path / "out"
    prepare(text_file, out, tokenizer="char")
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))
    with pytest.raises(FileExistsError, match=r"unsupported manifest version 1 .*--overwrite"):
        prepare(text_file, out, tokenizer="char")
    assert prepare(text_file, out, tokenizer="char", overwrite=True).manifest["format_version"] == 2

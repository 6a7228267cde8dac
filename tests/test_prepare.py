"""prepare_corpus / open_prepared: lossless streams, exact splits, manifest, caching, refusal."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import g2c.corpora.prepare as prepare_module
from g2c.atomic_files import TEMPORARY_PREFIX
from g2c.corpora import open_prepared, prepare_corpus
from g2c.corpora.manifest import sha256_file
from g2c.pretraining import get_lm_batch
from g2c.tokenizer import CharTokenizer, G2CTokenizer

SHARED_TINY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
DOCUMENTS = [
    "First document: to be, or not to be.\n",
    "Second — with <|endoftext|> typed inside, and 🙂.\n",
    "Third, short.",
    "Fourth document is a little longer than the others, so the cut lands in it.\n" * 3,
]


@pytest.fixture
def corpus_dir(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for index, text in enumerate(DOCUMENTS):
        (folder / f"{index}.txt").write_text(text, encoding="utf-8")
    (folder / "9-empty.txt").write_text("")
    return folder


def whole_stream(prepared):
    return np.concatenate([prepared.train, prepared.val]).astype(np.int64)


@pytest.mark.parametrize("kind, vocab_size", [("char", None), ("bpe", 300)])
def test_streams_are_the_documents_joined_by_one_eot(corpus_dir, tmp_path, kind, vocab_size):
    prepared = prepare_corpus(corpus_dir, tmp_path / "out", tokenizer=kind,
                              vocab_size=vocab_size, progress=False)
    tok = prepared.tokenizer
    stream = whole_stream(prepared)
    assert tok.decode(stream) == "<|endoftext|>".join(DOCUMENTS)
    assert (stream == tok.eot_id).sum() == len(DOCUMENTS) - 1  # the typed one is plain text
    pieces = np.split(stream, np.flatnonzero(stream == tok.eot_id))
    expected = [tok.encode(DOCUMENTS[0])] + [[tok.eot_id] + tok.encode(d) for d in DOCUMENTS[1:]]
    assert [p.tolist() for p in pieces] == expected
    assert prepared.train.dtype == np.uint16 and isinstance(prepared.train, np.memmap)


def test_split_is_contiguous_by_tokens_with_offsets_for_each_part(corpus_dir, tmp_path):
    prepared = prepare_corpus(corpus_dir, tmp_path / "out", tokenizer="char",
                              train_fraction=0.8, progress=False)
    stream = whole_stream(prepared)
    cut = int(len(stream) * 0.8)
    assert len(prepared.train) == cut and prepared.manifest["split"]["cut"] == cut
    starts = [0]
    for document in DOCUMENTS[:-1]:
        starts.append(starts[-1] + len(document) + 1)
    starts = np.array(starts)
    assert prepared.train_doc_offsets.tolist() == starts[starts < cut].tolist()
    val_starts = (starts[starts >= cut] - cut).tolist()
    assert prepared.val_doc_offsets.tolist() == ([0] + val_starts if val_starts[:1] != [0]
                                                 else val_starts)
    assert prepared.val_doc_offsets[0] == 0  # the cut fell inside the fourth document


def test_manifest_records_what_went_in(corpus_dir, tmp_path):
    out = tmp_path / "out"
    prepared = prepare_corpus(corpus_dir, out, tokenizer="bpe", vocab_size=300, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == prepared.manifest
    assert manifest["documents"] == {"count": 4, "skipped_empty": 1, "conversations": 0,
                                     "containing_special_token_text": 1}
    (source,) = manifest["corpus"]["sources"]
    assert source["documents"] == 4 and source["token_fraction"] == 1.0
    text_bytes = sum(len(d.encode("utf-8")) for d in DOCUMENTS)
    splits = manifest["splits"]
    assert splits["train"]["bytes"] + splits["val"]["bytes"] == text_bytes == source["bytes"]
    assert splits["val"]["bytes"] == prepared.tokenizer.token_byte_lengths()[prepared.val].sum()
    assert splits["train"]["tokens"] + splits["val"]["tokens"] == manifest["split"]["total_tokens"]
    assert manifest["tokenizer"]["sha256"] == prepared.tokenizer.fingerprint
    assert manifest["tokenizer"]["vocab_size"] == prepared.vocab_size
    assert manifest["split"]["train_fraction"] == 0.9
    assert manifest["dtype"] == "uint16" and manifest["g2c_version"]
    assert manifest["created"].endswith("Z")
    hashes = {name: sha256_file(out / name) for name in os.listdir(out) if name != "manifest.json"}
    assert manifest["tokenizer"]["file_sha256"] == hashes["tokenizer.json"]
    for name in ("train", "val"):
        assert splits[name]["sha256"] == hashes[f"{name}.bin"]
        assert splits[name]["doc_offsets_sha256"] == hashes[f"{name}_doc_offsets.npy"]
    lines = "".join(f"{name} {hashes[name]}\n" for name in sorted(hashes))
    assert prepared.data_hash == manifest["data_sha256"] == hashlib.sha256(lines.encode()).hexdigest()
    assert sorted(os.listdir(out)) == sorted(["manifest.json", "tokenizer.json", "train.bin",
                                              "val.bin", "train_doc_offsets.npy",
                                              "val_doc_offsets.npy"])


def test_prepared_streams_feed_get_lm_batch(corpus_dir, tmp_path):
    prepared = prepare_corpus(corpus_dir, tmp_path / "out", tokenizer="char", progress=False)
    x, y = get_lm_batch(prepared.train, 4, 8, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 8) and torch.equal(x[:, 1:], y[:, :-1])


def test_rerun_reuses_the_result_and_changed_inputs_are_refused(corpus_dir, tmp_path):
    out = tmp_path / "out"
    first = prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)
    stamp = (out / "train.bin").stat().st_mtime_ns
    again = prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)
    assert again.manifest == first.manifest and (out / "train.bin").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="differs in: train_fraction"):
        prepare_corpus(corpus_dir, out, tokenizer="char", train_fraction=0.5, progress=False)
    (corpus_dir / "0.txt").write_text("Changed first document.\n")
    with pytest.raises(FileExistsError, match="differs in: source"):
        prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)
    rebuilt = prepare_corpus(corpus_dir, out, tokenizer="char", progress=False, overwrite=True)
    assert rebuilt.tokenizer.decode(rebuilt.train).startswith("Changed first document.")


def test_a_half_written_output_is_never_taken_for_a_finished_one(corpus_dir, tmp_path,
                                                                  monkeypatch):
    out = tmp_path / "out"
    prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)
    (out / "manifest.json").unlink()  # as if a run died before its last step
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        open_prepared(out)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "split_stream", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)
    assert not (out / "manifest.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(TEMPORARY_PREFIX)]  # staging gone
    monkeypatch.undo()
    assert len(prepare_corpus(corpus_dir, out, tokenizer="char", progress=False).val) > 0


def test_open_prepared_refuses_mismatches(corpus_dir, tmp_path):
    out = tmp_path / "out"
    prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)
    CharTokenizer.train(["other alphabet"]).save(out / "tokenizer.json")
    with pytest.raises(ValueError, match="tokenizer.json has changed since it was prepared"):
        open_prepared(out)
    prepare_corpus(corpus_dir, out, tokenizer="char", progress=False)  # same recipe: repaired
    with open(out / "val.bin", "ab") as file:
        file.write(b"\x00\x00")
    with pytest.raises(ValueError, match="val.bin has .* bytes, expected"):
        open_prepared(out)


def test_a_given_tokenizer_file_is_used_as_is(corpus_dir, tmp_path):
    first = prepare_corpus(corpus_dir, tmp_path / "a", tokenizer="bpe", vocab_size=300,
                           progress=False)
    second = prepare_corpus(corpus_dir, tmp_path / "b", tokenizer=tmp_path / "a" / "tokenizer.json",
                            progress=False)
    assert isinstance(second.tokenizer, G2CTokenizer)
    assert second.tokenizer.fingerprint == first.tokenizer.fingerprint
    assert np.array_equal(whole_stream(first), whole_stream(second))


def test_mixture_manifest_reports_weights_and_token_shares(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.txt"
    a.write_text("".join(json.dumps({"text": f"story number {i}. "}) + "\n" for i in range(60)))
    b.write_text("\n=====\n".join(f"verse {i}, thou art" for i in range(60)))
    prepared = prepare_corpus({str(a): 3, str(b): 1}, tmp_path / "out", tokenizer="char",
                              separator="=====", progress=False)
    corpus = prepared.manifest["corpus"]
    assert corpus["mixture"] is True
    assert [s["weight"] for s in corpus["sources"]] == [0.75, 0.25]
    fractions = [s["token_fraction"] for s in corpus["sources"]]
    assert sum(fractions) == pytest.approx(1.0)
    assert fractions[0] == pytest.approx(0.75, abs=0.05)  # char level: tokens ≈ bytes here


def test_invalid_utf8_stops_prepare_unless_replacement_is_asked(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good text " * 20 + b"\xc3(" + b" more text" * 20)
    with pytest.raises(ValueError, match="bad.txt: invalid UTF-8 at byte offset 200"):
        prepare_corpus(path, tmp_path / "out", tokenizer="char", progress=False)
    assert not (tmp_path / "out").exists()  # a failed prepare leaves nothing behind
    prepared = prepare_corpus(path, tmp_path / "out", tokenizer="char", progress=False,
                              encoding_errors="replace")
    assert "\ufffd" in prepared.tokenizer.alphabet


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(train_fraction=1.0), ValueError, "between 0 and 1"),
    (dict(train_fraction=True), TypeError, "train_fraction"),
    (dict(train_fraction=0.9999), ValueError, "leaves the validation split empty"),
    (dict(train_fraction=0.001), ValueError, "leaves the train split empty"),
    (dict(tokenizer="bpe", vocab_size=100), ValueError, "too small.*at least 260"),
    (dict(tokenizer="bpe", vocab_size=10**9), ValueError, "too large: at most 1,048,576"),
    (dict(tokenizer="char", vocab_size=100), ValueError, "does not apply to tokenizer='char'"),
    (dict(tokenizer=3), TypeError, "tokenizer must be"),
    (dict(tokenizer_sample_bytes=0), ValueError, "tokenizer_sample_bytes"),
])
def test_bad_arguments(corpus_dir, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        prepare_corpus(corpus_dir, tmp_path / "out", progress=False, **kwargs)


def test_a_corpus_of_empty_documents_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("---\n---\n")
    with pytest.raises(ValueError, match="empty corpus|no text"):
        prepare_corpus(path, tmp_path / "out", tokenizer="char", separator="---", progress=False)
    path.write_text("")
    with pytest.raises(ValueError, match="no text: 1 documents, all empty"):
        prepare_corpus(path, tmp_path / "out", tokenizer=CharTokenizer.train(["a"]),
                       progress=False)


@pytest.mark.skipif(not SHARED_TINY.is_file(), reason="shared tinyshakespeare absent")
def test_tinyshakespeare_char_level(tmp_path):
    prepared = prepare_corpus(SHARED_TINY, tmp_path / "out", tokenizer="char", progress=False)
    assert prepared.vocab_size == 66  # the classic 65 characters + <|endoftext|>
    assert len(prepared.train) == int(1_115_394 * 0.9)
    assert len(prepared.train) + len(prepared.val) == 1_115_394  # one document, no separator
    assert prepared.tokenizer.decode(prepared.train[:14]) == "First Citizen:"

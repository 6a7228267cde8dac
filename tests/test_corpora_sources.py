"""Corpus sources: built-ins, local files, specs (hf: sources: test_corpora_huggingface.py)."""

import gzip
import json
from pathlib import Path

import pytest

from g2c.corpora import (
    DirectorySource,
    HuggingFaceSource,
    LocalFileSource,
    MixtureSource,
    ShakespeareSource,
    TinyShakespeareSource,
    find_tinyshakespeare,
    resolve_source,
)
from g2c.corpora import tinyshakespeare as tiny

SHARED_TINY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"
needs_tiny = pytest.mark.skipif(not SHARED_TINY.is_file(), reason="shared tinyshakespeare absent")


def test_builtin_shakespeare_is_plain_play_text():
    documents = list(ShakespeareSource().documents())
    assert len(documents) > 30  # one document per play
    hamlet = next(d for d in documents if "HAMLET:" in d)
    assert "To be, or not to be" in hamlet
    for document in documents:
        assert "**" not in document and "\n#" not in document and "\\" not in document
    assert ShakespeareSource().fingerprint() == ShakespeareSource().fingerprint()


@needs_tiny
def test_tinyshakespeare_from_g2c_data_dir(monkeypatch):
    monkeypatch.setenv("G2C_DATA_DIR", str(SHARED_TINY.parent))
    (document,) = TinyShakespeareSource().documents()
    assert len(document.encode("utf-8")) == tiny.SIZE
    assert document.startswith("First Citizen:")


@needs_tiny
def test_tinyshakespeare_with_wrong_bytes_is_refused(tmp_path, monkeypatch):
    (tmp_path / "tinyshakespeare.txt").write_bytes(SHARED_TINY.read_bytes()[:-1])
    monkeypatch.setenv("G2C_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="not the canonical tinyshakespeare.*1,115,393 bytes"):
        find_tinyshakespeare()


def test_tinyshakespeare_missing_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("G2C_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="G2C_DATA_DIR.*--download"):
        list(TinyShakespeareSource().documents())


def test_tinyshakespeare_download_failure_is_a_clear_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("G2C_DATA_DIR", raising=False)

    def offline(*args, **kwargs):
        raise tiny.urllib.error.URLError("no route to host")

    monkeypatch.setattr(tiny.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match="could not download.*offline"):
        find_tinyshakespeare(download=True)


@needs_tiny
def test_tinyshakespeare_download_is_verified_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("G2C_DATA_DIR", raising=False)
    monkeypatch.setattr(tiny, "URL", SHARED_TINY.as_uri())  # file:// — no network
    path = find_tinyshakespeare(download=True)
    assert path == tmp_path / "cache" / "g2c" / "tinyshakespeare.txt"
    assert find_tinyshakespeare() == path  # found in the cache next time
    corrupt = tmp_path / "corrupt.txt"
    corrupt.write_bytes(b"not shakespeare")
    with pytest.raises(ValueError, match="not the canonical"):
        tiny.download_tinyshakespeare(corrupt.as_uri())


def test_txt_file_is_one_document_or_split_on_a_separator(tmp_path):
    path = tmp_path / "plays.txt"
    path.write_text("first\nplay\n---\nsecond play\n---\n")
    assert list(LocalFileSource(path).documents()) == ["first\nplay\n---\nsecond play\n---\n"]
    split = LocalFileSource(path, separator="---")
    assert list(split.documents()) == ["first\nplay\n", "second play\n", ""]


def test_directory_of_txt_and_md_files(tmp_path):
    (tmp_path / "b.md").write_text("# bee")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("ay")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.txt").write_text("no")
    assert list(DirectorySource(tmp_path).documents()) == ["# bee", "ay"]


def test_directory_without_text_files(tmp_path):
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ValueError, match="no .txt or .md files"):
        DirectorySource(tmp_path).fingerprint()


@pytest.mark.parametrize("compressed", [False, True])
def test_jsonl_one_document_per_line(tmp_path, compressed):
    lines = [json.dumps({"text": "one 🙂", "id": 1}), "", json.dumps({"text": ""}),
             json.dumps({"story": "two"})]
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / ("s.jsonl.gz" if compressed else "s.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    documents = LocalFileSource(path, text_field="text").documents()
    assert [next(documents), next(documents)] == ["one 🙂", ""]  # the blank line is ignored
    with pytest.raises(ValueError, match=r":4: expected a JSON object with a string field 'text'"):
        next(documents)
    with pytest.raises(ValueError, match=r":1: .* field 'story'; got keys \['id', 'text'\]"):
        list(LocalFileSource(path, text_field="story").documents())


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "broken\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: malformed JSON"):
        list(LocalFileSource(path).documents())


def test_invalid_utf8_names_the_file_and_byte_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café".encode("utf-8") + b"\n" + "naïve".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt: invalid UTF-8 at byte offset 8"):
        list(LocalFileSource(path).documents())
    with pytest.raises(ValueError, match=r"byte offset 8"):
        list(LocalFileSource(path, separator="---").documents())
    (replaced,) = LocalFileSource(path, errors="replace").documents()
    assert replaced == "café\nna\ufffdve"


def test_invalid_utf8_in_jsonl_counts_bytes_from_the_file_start(tmp_path):
    path = tmp_path / "bad.jsonl"
    first = b'{"text": "ok"}\n'
    path.write_bytes(first + b'{"text": "\xff"}\n')
    with pytest.raises(ValueError, match=f"invalid UTF-8 at byte offset {len(first) + 10}"):
        list(LocalFileSource(path).documents())


def test_fingerprint_changes_when_the_file_changes(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one")
    before = LocalFileSource(path).fingerprint()
    assert LocalFileSource(path).fingerprint() == before
    path.write_text("one more")
    assert LocalFileSource(path).fingerprint() != before


def test_resolve_names_paths_and_mixtures(tmp_path):
    (tmp_path / "a.txt").write_text("aaa")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.md").write_text("x")
    assert isinstance(resolve_source("shakespeare"), ShakespeareSource)
    assert isinstance(resolve_source("tinyshakespeare"), TinyShakespeareSource)
    assert isinstance(resolve_source(tmp_path / "a.txt"), LocalFileSource)
    assert isinstance(resolve_source(str(tmp_path / "d")), DirectorySource)
    assert isinstance(resolve_source("hf:roneneldan/TinyStories@validation"), HuggingFaceSource)
    mixture = resolve_source(f"{tmp_path / 'a.txt'}=3,{tmp_path / 'd'}=1")
    assert isinstance(mixture, MixtureSource) and mixture.weights == (0.75, 0.25)
    as_dict = resolve_source({str(tmp_path / "a.txt"): 1, "shakespeare": 1})
    assert [type(s) for s in as_dict.components] == [LocalFileSource, ShakespeareSource]


@pytest.mark.parametrize("spec, error, match", [
    ("no/such/file.txt", FileNotFoundError, "not a built-in name"),
    ("shakespeare=0.5,shakespeare", ValueError, "bad mixture part 'shakespeare'"),
    ("shakespeare=heavy", ValueError, "expected SOURCE=WEIGHT"),
    ("shakespeare=-1", ValueError, "positive number"),
    (42, TypeError, "source must be"),
])
def test_resolve_rejects_bad_specs(spec, error, match):
    with pytest.raises(error, match=match):
        resolve_source(spec)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b")
    with pytest.raises(ValueError, match="unsupported corpus file"):
        resolve_source(path)
    with pytest.raises(ValueError, match="encoding_errors"):
        resolve_source("shakespeare", encoding_errors="ignore")


@pytest.mark.parametrize("name", ["notes.txt.gz", "rows.jsonl.gz"])
@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_broken_gzip_file_names_the_file(tmp_path, name, damage):
    data = gzip.compress(b'{"text": "a story"}\n' * 2000)
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"plain text, no gzip\n")
    with pytest.raises(ValueError, match=rf"{name}: not a complete gzip file \(.+\); "):
        list(LocalFileSource(path, separator="---" if "txt" in name else None).documents())
    if "txt" in name:  # the whole-file reader too
        with pytest.raises(ValueError, match=rf"{name}: not a complete gzip file"):
            list(LocalFileSource(path).documents())

"""g2c prepare under ordinary mistakes and faults: a clear error, nothing left behind.

An unwritable --out, an absurd --vocab-size, Ctrl-C in the middle of BPE
training, a kill -9: each ends in one clear line (or a prompt
KeyboardInterrupt) and leaves no staging folder behind.
"""

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import g2c.corpora.prepare as prepare_module
from g2c.atomic_files import TEMPORARY_PREFIX
from g2c.cli import main
from g2c.corpora import prepare_corpus
from g2c.tokenizer import G2CTokenizer

SLOW_BPE_SECONDS = 15  # about what the library takes on the corpus below, uninterrupted


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n" * 50)
    return path


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMPORARY_PREFIX)]


def never_tokenize(*args, **kwargs):
    raise AssertionError("tokenizing started before the output was checked")


@pytest.mark.parametrize("where", ["a file", "inside a file", pytest.param(
    "in /sys", marks=pytest.mark.skipif(sys.platform != "linux", reason="sysfs is Linux's"))])
def test_an_unwritable_out_dir_is_refused_before_any_tokenizing(text_file, monkeypatch, where):
    # sysfs refuses new folders even to root: a permission error that root cannot bypass
    out = {"a file": text_file, "inside a file": text_file / "out",
           "in /sys": Path("/sys/g2c-prepare-out")}[where]
    monkeypatch.setattr(prepare_module, "_build", never_tokenize)
    with pytest.raises(ValueError, match=rf"out_dir {out} cannot be written: .*; choose a "
                                         r"directory you can write to"):
        prepare_corpus(text_file, out, tokenizer="char", progress=False)


def test_the_command_line_says_one_line_and_creates_nothing(text_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["prepare", "--corpus", str(text_file), "--vocab-size", "1000000000",
                 "--out", str(out), "--quiet"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "vocab_size=1,000,000,000 is too large: at most 1,048,576" in line
    assert not out.exists()
    assert main(["prepare", "--corpus", str(text_file), "--tokenizer", "char",
                 "--out", str(text_file / "out"), "--quiet"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"out_dir {text_file / 'out'} cannot be written: Not a directory" in line


def test_prepared_files_follow_the_umask(text_file, tmp_path):
    previous = os.umask(0o027)
    try:
        prepare_corpus(text_file, tmp_path / "out", tokenizer="char", progress=False)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()}
    assert len(modes) == 6 and set(modes.values()) == {0o640}, modes


def test_a_killed_prepare_leaves_staging_that_the_next_prepare_removes(text_file, tmp_path):
    out = tmp_path / "out"
    prepare_corpus(text_file, out, tokenizer="char", progress=False)
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal; import g2c.corpora.prepare as p; "
        "p.split_stream = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL); "
        f"p.prepare_corpus({str(text_file)!r}, {str(out)!r}, tokenizer='char', "
        "train_fraction=0.5, overwrite=True, progress=False)")],
        capture_output=True, text=True, check=False, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(leftovers(out)) == 1  # kill -9 runs no cleanup...
    prepare_corpus(text_file, out, tokenizer="char", progress=False, overwrite=True)
    assert leftovers(out) == []  # ...the next prepare does it


def test_an_error_while_reading_the_texts_is_raised_as_it_is():
    def texts():
        yield "some text to learn from " * 20
        raise ValueError("notes.txt: invalid UTF-8 at byte offset 7")

    with pytest.raises(ValueError, match="notes.txt: invalid UTF-8 at byte offset 7"):
        G2CTokenizer.train(texts(), 1000)


def test_ctrl_c_during_bpe_training_stops_at_once_and_cleans_up(tmp_path):
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyzéèàüößçñ"
    words = ["".join(rng.choices(letters, k=rng.randint(3, 14))) for _ in range(200_000)]
    corpus = tmp_path / "words.txt"
    corpus.write_text("\n---\n".join(" ".join(rng.choices(words, k=2000)) for _ in range(200)))
    out = tmp_path / "out"
    script = (
        "import sys; from g2c.corpora import prepare_corpus\n"
        "try:\n"
        f"    prepare_corpus({str(corpus)!r}, {str(out)!r}, separator='---', vocab_size=65536, "
        "progress=False)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True); sys.exit(130)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out.is_dir() and leftovers(out)) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # the sample is read by now: the library is learning merges
        assert process.poll() is None, "training ended before the test could interrupt it"
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
        seconds = time.monotonic() - interrupted
    finally:
        process.kill()
    assert process.returncode == 130 and stdout == "interrupted\n", stderr
    assert "Traceback" not in stderr
    assert seconds < SLOW_BPE_SECONDS / 3, f"Ctrl-C took {seconds:.1f} s to stop training"
    assert not out.exists()  # neither the staging folder nor the out_dir it made

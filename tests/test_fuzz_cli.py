"""Fuzzing the command line with malformed inputs: exit 0 or 2, never a traceback, no litter.

Hypothesis draws corpus files (random bytes, broken gzip, JSONL rows of every
shape) and flag values (negative, zero, huge, fractional, words, "none"), and
runs ``g2c prepare`` and ``g2c pretrain --max-steps 2`` on them in this
process. A user's mistake must end in one line on stderr with exit code 2; a
run that makes sense ends with 0; anything else — an exception escaping
``main`` — fails the test with its traceback.
"""

import gzip
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from g2c.atomic_files import TEMPORARY_PREFIX
from g2c.cli import main

TEXT = "\n".join(f"{who}:\nlove night day sweet fair death heaven light moon stars"
                 for who in ("ROMEO", "JULIET") * 60)
FLAG_VALUES = st.sampled_from(["0", "-1", "2.5", "abc", "none", "1000000000", "3", "1e-9",
                               "nan", "", "bpe", "char", "packed", "true"])
PRETRAIN_FLAGS = st.sampled_from([
    "--batch-size", "--context-length", "--learning-rate", "--width", "--layers", "--heads",
    "--max-seq-len", "--mlp-hidden", "--vocab-size", "--tokenizer", "--grad-clip", "--seed",
    "--warmup-steps", "--batch-mode", "--precision", "--eval-interval", "--val-tokens",
    "--z-loss", "--beta2", "--grad-accum-steps", "--positions", "--norm", "--max-time"])
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["text", "messages", "role",
                                                              "content", "x"]), inner,
                                             max_size=3), max_leaves=8)
CORPORA = st.one_of(
    st.tuples(st.just("notes.txt"), st.binary(max_size=300)),
    st.tuples(st.just("notes.txt.gz"), st.binary(max_size=100)),
    st.tuples(st.just("rows.jsonl"), st.lists(JSON_VALUES, min_size=1, max_size=6).map(
        lambda rows: "\n".join(json.dumps(r) for r in rows).encode())),
    st.tuples(st.just("rows.jsonl"), st.binary(max_size=200)),
)
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_clean_exit(code, capsys, *folders):
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:  # what the run printed, then one error line
        lines = err.strip().splitlines()
        assert "error:" in lines[-1] and sum("error:" in line for line in lines) == 1, err
    for folder in folders:
        litter = [p for p in folder.rglob("*") if p.name.startswith(TEMPORARY_PREFIX)]
        assert not litter, litter


@FUZZ
@given(corpus=CORPORA, tokenizer=st.sampled_from(["char", "bpe"]))
def test_prepare_on_malformed_corpora(tmp_path_factory, capsys, corpus, tokenizer):
    root = tmp_path_factory.mktemp("fuzz-prepare")
    name, data = corpus
    (root / name).write_bytes(data)
    code = main(["prepare", "--corpus", str(root / name), "--tokenizer", tokenizer,
                 "--vocab-size" if tokenizer == "bpe" else "--train-fraction",
                 "300" if tokenizer == "bpe" else "0.9", "--out", str(root / "out"), "--quiet"])
    assert_clean_exit(code, capsys, root)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-corpus")
    (root / "play.txt").write_text(TEXT, encoding="utf-8")
    # Prepared once: every example reuses it unless its flags change the tokenizer.
    return root / "play.txt", root / "data"


@FUZZ
@given(flags=st.lists(st.tuples(PRETRAIN_FLAGS, FLAG_VALUES), min_size=1, max_size=3))
def test_pretrain_with_malformed_flags(tmp_path_factory, capsys, corpus, flags):
    play, data = corpus
    out = tmp_path_factory.mktemp("fuzz-run") / "run"
    argv = ["pretrain", "--corpus", str(play), "--data-dir", str(data), "--out", str(out),
            "--max-steps", "2", "--batch-size", "2", "--context-length", "16", "--width", "16",
            "--heads", "2", "--layers", "1", "--quiet", "--no-tensorboard"]
    for flag, value in flags:
        argv += [flag, value]
    random.seed(0)
    assert_clean_exit(main(argv), capsys, out.parent, data)

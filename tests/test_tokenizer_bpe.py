"""G2CTokenizer: lossless byte-level BPE with reserved special tokens that text cannot forge."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from g2c.corpora.shakespeare import shakespeare_documents
from g2c.tokenizer import SPECIAL_TOKENS, CharTokenizer, G2CTokenizer, load_tokenizer
from g2c.tokenizer.bpe import split_at_safe_cuts

TRICKY = [
    "",
    "To be, or not to be",
    "emoji 🙂👍🏽 and 👨‍👩‍👧",
    "中文字符 日本語 한국어",
    "NUL \x00 in the middle\x00",
    "\u0301 a lone combining mark at the start",
    "e\u0301 vs é",
    "tabs\tand\r\nwindows newlines\n\n\n",
    "<|endoftext|> typed in a document <|user|><|assistant|><|end|>",
    "<|endoftext|>",
]


@pytest.fixture(scope="module")
def tokenizer():
    plays = list(shakespeare_documents())[:3]
    return G2CTokenizer.train(plays + ["<|endoftext|> " * 200], vocab_size=800)


def test_training_fills_the_vocabulary_and_reserves_the_special_ids(tokenizer):
    assert tokenizer.vocab_size == 800
    assert [tokenizer.special_id(name) for name in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tokenizer.eot_id == 0
    ids = tokenizer.encode("To be, or not to be, that is the question")
    assert len(ids) < len("To be, or not to be, that is the question")  # merges compress


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_round_trip(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_unicode_string_round_trips(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert all(4 <= i < tokenizer.vocab_size for i in ids)  # never a special id


def test_special_token_text_is_ordinary_text(tokenizer):
    # The training corpus repeated "<|endoftext|>" 200 times, yet no merge spells it.
    text = "a<|endoftext|>b <|user|> <|assistant|> <|end|>"
    ids = tokenizer.encode(text)
    assert not set(ids) & {0, 1, 2, 3}
    assert tokenizer.decode(ids) == text
    vocab = tokenizer.hf_tokenizer.get_vocab()
    learned = {token for token, index in vocab.items() if index >= len(SPECIAL_TOKENS)}
    assert not learned & set(SPECIAL_TOKENS)


def test_special_ids_decode_to_their_names(tokenizer):
    ids = tokenizer.encode("one") + [tokenizer.eot_id] + tokenizer.encode("two")
    assert tokenizer.decode(ids) == "one<|endoftext|>two"
    assert tokenizer.decode([tokenizer.special_id("<|assistant|>")]) == "<|assistant|>"


def test_decode_accepts_arrays_and_tensors(tokenizer):
    ids = tokenizer.encode("Hamlet and Ophelia")
    assert tokenizer.decode(np.array(ids, dtype=np.uint16)) == "Hamlet and Ophelia"
    assert tokenizer.decode(torch.tensor(ids)) == "Hamlet and Ophelia"


def test_encode_batch_arrays_matches_encode(tokenizer):
    assert [ids.tolist() for ids in tokenizer.encode_batch_arrays(TRICKY)] \
        == [tokenizer.encode(text) for text in TRICKY]


def test_long_documents_split_at_safe_cuts_encode_identically(tokenizer):
    text = "\n".join(list(shakespeare_documents())[3:5])
    pieces = split_at_safe_cuts(text, piece_chars=500)
    assert len(pieces) > 100 and "".join(pieces) == text
    whole = tokenizer.hf_tokenizer.encode(text).ids
    assert tokenizer.encode(text) == whole


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["ab", "c", " ", "\n", "\n\n", "  ", "'s", "1", "é", "!\n"]),
                max_size=300), st.integers(1, 40))
def test_safe_cuts_never_change_the_ids(tokenizer, parts, piece_chars):
    text = "".join(parts)
    pieces = split_at_safe_cuts(text, piece_chars)
    assert "".join(pieces) == text
    joined = [i for piece in pieces for i in tokenizer.encode(piece)]
    assert joined == tokenizer.encode(text)


def test_fast_engine_agrees_with_the_hugging_face_encoder(tokenizer):
    hf = tokenizer.hf_tokenizer
    for document in list(shakespeare_documents())[:8] + TRICKY:
        assert tokenizer.encode(document) == hf.encode(document).ids


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("thequickbrownfox  \n\n,.'!0123é🙂中")), max_size=200))
def test_fast_engine_agrees_with_hugging_face_on_adversarial_text(tokenizer, text):
    assert tokenizer.encode(text) == tokenizer.hf_tokenizer.encode(text).ids


def test_token_byte_lengths_count_text_bytes(tokenizer):
    lengths = tokenizer.token_byte_lengths()
    for text in TRICKY:
        assert lengths[tokenizer.encode(text)].sum() == len(text.encode("utf-8"))
    assert lengths[: len(SPECIAL_TOKENS)].sum() == 0


def test_save_and_load_round_trip(tokenizer, tmp_path):
    path = tokenizer.save(tmp_path / "tok.json")
    for loaded in (G2CTokenizer.load(path), load_tokenizer(path)):
        assert isinstance(loaded, G2CTokenizer)
        assert loaded.fingerprint == tokenizer.fingerprint
        assert loaded.encode(TRICKY[2] + TRICKY[8]) == tokenizer.encode(TRICKY[2] + TRICKY[8])
        assert loaded.encode("<|endoftext|>") == tokenizer.encode("<|endoftext|>")
    assert json.loads(path.read_text())["kind"] == "bpe"


def test_fingerprints_differ_between_vocabularies(tokenizer):
    other = G2CTokenizer.train(list(shakespeare_documents())[:1], vocab_size=400)
    assert other.fingerprint != tokenizer.fingerprint


@pytest.mark.parametrize("bad", [[800], [-1], [5, 10_000]])
def test_decode_rejects_ids_out_of_range(tokenizer, bad):
    with pytest.raises(ValueError, match="out of range"):
        tokenizer.decode(bad)


def test_decode_rejects_non_integer_ids(tokenizer):
    with pytest.raises(TypeError, match="integer"):
        tokenizer.decode(np.array([1.5, 2.0]))


def test_unknown_special_token_name(tokenizer):
    with pytest.raises(ValueError, match=r"unknown special token '<\|system\|>'"):
        tokenizer.special_id("<|system|>")


@pytest.mark.parametrize("vocab_size, error", [(259, ValueError), (0, ValueError),
                                               (300.0, TypeError), (True, TypeError)])
def test_vocab_too_small_for_specials_and_bytes(vocab_size, error):
    with pytest.raises(error, match="vocab_size"):
        G2CTokenizer.train(["some text"], vocab_size=vocab_size)


def test_training_rejects_non_strings():
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        G2CTokenizer.train(["fine", b"bytes"], vocab_size=300)


def test_lone_surrogates_are_rejected_clearly(tokenizer):
    with pytest.raises(ValueError, match="surrogate"):
        tokenizer.encode("a\ud800b")


def test_loading_files_that_are_not_tokenizers(tmp_path):
    not_json = tmp_path / "a.json"
    not_json.write_text("hello")
    with pytest.raises(ValueError, match="not a g2c tokenizer file"):
        load_tokenizer(not_json)
    foreign = tmp_path / "b.json"
    foreign.write_text(json.dumps({"model": {"type": "BPE"}}))
    with pytest.raises(ValueError, match="not a g2c tokenizer file"):
        G2CTokenizer.load(foreign)
    char = CharTokenizer.train(["abc"]).save(tmp_path / "char.json")
    with pytest.raises(ValueError, match="holds a 'char' tokenizer"):
        G2CTokenizer.load(char)
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "missing.json")


def test_loading_a_file_with_a_broken_vocabulary(tokenizer, tmp_path):
    document = json.loads(tokenizer.to_json())
    document["hf_tokenizer"]["added_tokens"] = []
    document["hf_tokenizer"]["model"]["vocab"].pop("<|endoftext|>")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="special token <\\|endoftext\\|> must have id 0"):
        load_tokenizer(path)

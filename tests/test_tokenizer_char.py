"""CharTokenizer: one id per character, <|endoftext|> (and optionally the chat tokens) reserved."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from g2c.tokenizer import SPECIAL_TOKENS, CharTokenizer, G2CTokenizer, load_tokenizer


def test_vocabulary_is_eot_then_the_sorted_alphabet():
    tok = CharTokenizer.train(["abba", "cab"])
    assert tok.vocab_size == 4 and tok.eot_id == 0
    assert tok.alphabet == ("a", "b", "c")
    assert tok.encode("cab") == [3, 1, 2]
    assert tok.decode([3, 1, 2, tok.eot_id]) == "cab<|endoftext|>"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1))
def test_any_text_round_trips_through_its_own_alphabet(text):
    tok = CharTokenizer.train([text])
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert 0 not in ids and max(ids) < tok.vocab_size


def test_special_token_text_is_ordinary_characters():
    text = "x<|endoftext|>y"
    tok = CharTokenizer.train([text])
    ids = tok.encode(text)
    assert tok.eot_id not in ids and len(ids) == len(text)
    assert tok.decode(ids) == text


def test_unknown_character_names_it_and_its_position():
    tok = CharTokenizer.train(["hello"])
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) at position 2"):
        tok.encode("hez")
    with pytest.raises(ValueError, match="U\\+1F642"):
        tok.encode("🙂")


def test_only_endoftext_is_reserved():
    tok = CharTokenizer.train(["abc"])
    assert tok.special_tokens == ("<|endoftext|>",)
    with pytest.raises(ValueError, match="unknown special token '<\\|user\\|>'"):
        tok.special_id("<|user|>")


@pytest.mark.parametrize("bad", [[4], [-1]])
def test_decode_rejects_out_of_range_ids(bad):
    with pytest.raises(ValueError, match="out of range for vocab_size=4"):
        CharTokenizer.train(["abc"]).decode(bad)


def test_chat_tokens_can_be_reserved_like_the_bpe(tmp_path):
    tok = CharTokenizer.train(["abba", "cab"], special_tokens=SPECIAL_TOKENS)
    assert tok.special_tokens == SPECIAL_TOKENS and tok.vocab_size == 7
    assert [tok.special_id(name) for name in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert tok.encode("cab") == [6, 4, 5]  # the characters follow the specials
    assert tok.decode([1, 6, 3]) == "<|user|>c<|end|>"
    assert tok.token_byte_lengths().tolist() == [0, 0, 0, 0, 1, 1, 1]
    loaded = load_tokenizer(tok.save(tmp_path / "char.json"))
    assert loaded.special_tokens == SPECIAL_TOKENS and loaded.encode("cab") == [6, 4, 5]
    with pytest.raises(ValueError, match="special_tokens must be"):
        CharTokenizer(["a"], special_tokens=("<|user|>",))


def test_encode_batch_arrays_and_byte_lengths():
    tok = CharTokenizer.train(["aé🙂"])
    assert [ids.tolist() for ids in tok.encode_batch_arrays(["a", "é🙂"])] \
        == [tok.encode("a"), tok.encode("é🙂")]
    lengths = tok.token_byte_lengths()
    assert lengths[tok.encode("aé🙂")].tolist() == [1, 2, 4]
    assert lengths[tok.eot_id] == 0


def test_save_load_round_trip_and_dispatch(tmp_path):
    tok = CharTokenizer.train(["To be,\x00 or 🙂"])
    path = tok.save(tmp_path / "char.json")
    loaded = load_tokenizer(path)
    assert isinstance(loaded, CharTokenizer)
    assert loaded.fingerprint == tok.fingerprint
    assert loaded.encode("or 🙂\x00") == tok.encode("or 🙂\x00")
    with pytest.raises(ValueError, match="holds a 'char' tokenizer"):
        G2CTokenizer.load(path)


def test_loading_a_tampered_alphabet_is_refused(tmp_path):
    path = CharTokenizer.train(["abc"]).save(tmp_path / "char.json")
    document = json.loads(path.read_text())
    document["alphabet"] = ["b", "a", "c"]  # would silently shift every id
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="sorted"):
        load_tokenizer(path)


@pytest.mark.parametrize("texts, error, match", [
    ([], ValueError, "empty corpus"),
    (["", ""], ValueError, "empty corpus"),
    ([b"bytes"], TypeError, r"texts\[0\] must be a str"),
])
def test_training_errors(texts, error, match):
    with pytest.raises(error, match=match):
        CharTokenizer.train(texts)


def test_encode_rejects_non_strings_and_surrogates():
    tok = CharTokenizer.train(["ab"])
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(np.array([1]))
    with pytest.raises(ValueError, match="surrogate"):
        tok.encode("a\ud800")

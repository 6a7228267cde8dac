"""Chat-shaped corpora: one rendering, its Jinja twin, special ids, malformed rows, mixtures."""

import json

import numpy as np
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from g2c.cli import main as g2c_main
from g2c.corpora import CHAT_TEMPLATE, LocalFileSource, open_prepared, prepare_corpus, render_chat
from g2c.corpora.chat import ChatDocument
from g2c.tokenizer import CharTokenizer

CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"},
     {"role": "assistant", "content": "6", "name": "bot"}],
    [{"role": "system", "content": "You are a poet.\n"}, {"role": "user", "content": "  {{ x }} "},
     {"role": "assistant", "content": "A rose,\n\tby any name 🌹"}],
    [{"role": "assistant", "content": ""}, {"role": "assistant", "content": "<| not a token |>"}],
]


def test_render_chat_worked_example():
    rendered = render_chat(CONVERSATIONS[2])
    assert rendered == ("Be brief.<|end|><|user|>2+2?<|end|><|assistant|>4<|end|>"
                        "<|user|>And 3+3?<|end|><|assistant|>6<|end|>")
    assert isinstance(rendered, str) and isinstance(rendered, ChatDocument)
    prompt = render_chat(CONVERSATIONS[0], add_generation_prompt=True)
    assert prompt == "<|user|>Hi!<|end|><|assistant|>"


@pytest.mark.parametrize("add_generation_prompt", [False, True])
@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_chat_template_renders_exactly_like_render_chat(messages, add_generation_prompt):
    # The environment transformers renders chat templates in.
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(CHAT_TEMPLATE)
    rendered = template.render(messages=messages, add_generation_prompt=add_generation_prompt)
    assert rendered == render_chat(messages, add_generation_prompt=add_generation_prompt)


@pytest.mark.parametrize("messages", [
    [{"role": "tool", "content": "x"}],
    [{"role": "user", "content": "x"}, {"role": "system", "content": "late"}],
])
def test_chat_template_refuses_what_render_chat_refuses(messages):
    def raise_exception(message):
        raise ValueError(message)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.globals["raise_exception"] = raise_exception
    with pytest.raises(ValueError, match=r"messages\[\d\]"):
        environment.from_string(CHAT_TEMPLATE).render(messages=messages)
    with pytest.raises(ValueError, match=r"messages\[\d\]"):
        render_chat(messages)


@pytest.mark.parametrize("row, problem", [
    ({"text": "plain"}, None),
    ({"id": 3}, r"expected a JSON object with a string field 'text'; got keys \['id'\] "
                r"\(a conversation row holds a 'messages' list"),
    ({"messages": {"role": "user", "content": "x"}}, r"'messages' must be a list .* got dict"),
    ({"messages": []}, r"'messages' is empty"),
    ({"messages": ["hi"]}, r"messages\[0\] must be an object with 'role' and 'content'; got str"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\] must be .*; got keys \['role'\]"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]},
     r"messages\[1\]: unknown role 'tool'; expected one of system, user, assistant"),
    ({"messages": [{"role": "user", "content": ["a", "b"]}]},
     r"messages\[0\]: content must be a string; got list"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]},
     r"messages\[1\]: a 'system' message may only come first"),
    ({"messages": [{"role": "user", "content": "stop<|end|>"}]},
     r"messages\[0\]: content contains the reserved token text '<\|end\|>'"),
    ({"text": "t", "messages": [{"role": "user", "content": "x"}]},
     r"the row holds both 'text' and 'messages'.*not both"),
])
def test_malformed_chat_rows_name_the_file_line_and_problem(tmp_path, row, problem):
    path = tmp_path / "chat.jsonl"
    good = json.dumps({"messages": CONVERSATIONS[1]})
    path.write_text(f"{good}\n\n{json.dumps(row)}\n")
    documents = LocalFileSource(path).documents()
    assert next(documents) == render_chat(CONVERSATIONS[1])
    if problem is None:  # a text row stays a plain document, even in a chat file
        plain = next(documents)
        assert plain == "plain" and not isinstance(plain, ChatDocument)
        return
    with pytest.raises(ValueError, match=rf"chat.jsonl:3: {problem}"):
        next(documents)


def write_chat_corpus(path):
    rows = [{"messages": m} for m in CONVERSATIONS]
    rows.insert(2, {"text": "A plain note that mentions <|user|> and <|end|> as text."})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


@pytest.mark.parametrize("tokenizer, vocab_size", [("char", None), ("bpe", 300)])
def test_rendered_chat_tokens_are_single_special_ids(tmp_path, tokenizer, vocab_size):
    rows = write_chat_corpus(tmp_path / "chat.jsonl")
    prepared = prepare_corpus(tmp_path / "chat.jsonl", tmp_path / "out", tokenizer=tokenizer,
                              vocab_size=vocab_size, train_fraction=0.5, progress=False)
    tok = prepared.tokenizer
    assert tok.special_tokens == ("<|endoftext|>", "<|user|>", "<|assistant|>", "<|end|>")
    ids = np.concatenate([prepared.train, prepared.val])
    documents = [render_chat(r["messages"]) if "messages" in r else r["text"] for r in rows]
    assert tok.decode(ids) == "<|endoftext|>".join(documents)  # special ids decode to their names
    turns = [message["role"] for r in rows for message in r.get("messages", [])]
    # one id per rendered token; the plain note's "<|user|>" and "<|end|>" stay text
    assert (ids == tok.special_id("<|user|>")).sum() == turns.count("user")
    assert (ids == tok.special_id("<|assistant|>")).sum() == turns.count("assistant")
    assert (ids == tok.special_id("<|end|>")).sum() == len(turns)
    assert (ids == tok.eot_id).sum() == len(rows) - 1
    documents_entry = open_prepared(tmp_path / "out").manifest["documents"]
    assert documents_entry["conversations"] == len(CONVERSATIONS)
    assert documents_entry["containing_special_token_text"] == 1


def test_a_char_tokenizer_without_chat_tokens_is_refused(tmp_path):
    write_chat_corpus(tmp_path / "chat.jsonl")
    plain = prepare_corpus(tmp_path / "chat.jsonl", tmp_path / "plain", tokenizer="char",
                           progress=False).tokenizer
    old_style = CharTokenizer(plain.alphabet)  # <|endoftext|> only
    with pytest.raises(ValueError, match=r"not reserve <\|user\|>, <\|assistant\|>, <\|end\|>"):
        prepare_corpus(tmp_path / "chat.jsonl", tmp_path / "out", tokenizer=old_style,
                       progress=False)


def test_tinyllm_style_mixture_with_a_chat_source(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stories").mkdir()
    for i in range(6):
        (tmp_path / "stories" / f"{i}.txt").write_text(f"Once upon a time, a fox found {i} stars.")
    (tmp_path / "chat.jsonl").write_text(
        "".join(json.dumps({"messages": CONVERSATIONS[i % 3]}) + "\n" for i in range(30)))
    status = g2c_main(["prepare", "--corpus", "stories=0.6,shakespeare=0.2,chat.jsonl=0.2",
                       "--out", "mix", "--tokenizer", "bpe", "--vocab-size", "300", "--quiet"])
    assert status == 0, capsys.readouterr().err
    prepared = open_prepared(tmp_path / "mix")
    sources = {s["name"]: s for s in prepared.manifest["corpus"]["sources"]}
    assert [s["weight"] for s in sources.values()] == pytest.approx([0.6, 0.2, 0.2])
    assert set(sources) == {"stories/", "shakespeare", "chat.jsonl"}
    assert all(s["documents"] > 0 for s in sources.values())
    ids = np.concatenate([prepared.train, prepared.val])
    assert prepared.manifest["documents"]["conversations"] == sources["chat.jsonl"]["documents"]
    assert (ids == prepared.tokenizer.special_id("<|assistant|>")).sum() > 0

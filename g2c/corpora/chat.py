"""Chat-shaped text: a conversation becomes one document with the course's reserved tokens.

A conversation is a list of messages ``{"role": "system" | "user" | "assistant",
"content": str}``. :func:`render_chat` writes it as one document, every turn
opened by its role token and closed by ``<|end|>``:

    render_chat([{"role": "user", "content": "Hi!"},
                 {"role": "assistant", "content": "Hello."}])
    -> "<|user|>Hi!<|end|><|assistant|>Hello.<|end|>"

The result is a :class:`ChatDocument`, a ``str`` whose reserved-token text
*is* the special tokens when encoded (:func:`encode_documents`); in any other
document the same text stays ordinary characters, so a plain document can
never forge a turn. Message content may not contain reserved-token text.
:data:`CHAT_TEMPLATE` is the same rendering as Jinja, for Hugging Face.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from g2c.tokenizer import SPECIAL_TOKENS, BaseTokenizer

ROLES = ("system", "user", "assistant")
END = "<|end|>"
CHAT_TOKENS = ("<|user|>", "<|assistant|>", END)
_RESERVED = re.compile("(" + "|".join(re.escape(token) for token in SPECIAL_TOKENS) + ")")

# render_chat as Jinja, for a Hugging Face tokenizer's ``chat_template``.
# ``raise_exception`` is the helper transformers provides to templates.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and loop.first %}{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'user' %}<|user|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{{ message['content'] }}<|end|>"
    "{% else %}{{ raise_exception('messages[' ~ loop.index0 ~ ']: role ' ~ message['role']"
    " ~ ' is not allowed here; expected system (first only), user or assistant') }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class ChatDocument(str):
    """A rendered conversation: its reserved-token text stands for the special tokens."""


def render_chat(messages, *, add_generation_prompt: bool = False) -> ChatDocument:
    """Render a conversation as one document, the same way every time.

    There is no system token: a ``system`` message may only come first and is
    written as its bare content closed by ``<|end|>``. ``add_generation_prompt``
    appends ``<|assistant|>``, the cue for a model to answer. A malformed
    message is a ValueError naming it.
    """
    if not isinstance(messages, list):
        raise ValueError(f"'messages' must be a list of {{\"role\", \"content\"}} objects; "
                         f"got {type(messages).__name__}")
    if not messages:
        raise ValueError("'messages' is empty; a conversation needs at least one message")
    parts = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            got = f"keys {sorted(message)}" if isinstance(message, dict) else type(message).__name__
            raise ValueError(f"{where} must be an object with 'role' and 'content'; got {got}")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise ValueError(f"{where}: unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if role == "system" and index > 0:
            raise ValueError(f"{where}: a 'system' message may only come first")
        if not isinstance(content, str):
            raise ValueError(f"{where}: content must be a string; got {type(content).__name__}")
        reserved = _RESERVED.search(content)
        if reserved:
            raise ValueError(f"{where}: content contains the reserved token text "
                             f"{reserved.group()!r}, which would read as a turn or document "
                             f"boundary; remove it from the text")
        opening = "" if role == "system" else f"<|{role}|>"
        parts.append(f"{opening}{content}{END}")
    if add_generation_prompt:
        parts.append("<|assistant|>")
    return ChatDocument("".join(parts))


def text_pieces(document: str) -> list[str]:
    """The ordinary text of a document (a ChatDocument's pieces between its tokens)."""
    if isinstance(document, ChatDocument):
        return [piece for piece in _RESERVED.split(document)[::2] if piece]
    return [document]


def encode_documents(tokenizer: BaseTokenizer, texts: Sequence[str]) -> list[np.ndarray]:
    """``tokenizer.encode_batch_arrays(texts)``, except that a ChatDocument's chat tokens
    become special ids (all text still in one batch, so the BPE uses every core)."""
    # re.split with a group alternates text, token, text, ...: even items are text.
    split = [_RESERVED.split(t) if isinstance(t, ChatDocument) else [t] for t in texts]
    encoded = iter(tokenizer.encode_batch_arrays([p for parts in split for p in parts[::2]]))
    token_ids = _chat_token_ids(tokenizer) if any(len(parts) > 1 for parts in split) else {}
    documents = []
    for parts in split:
        arrays = [next(encoded) if i % 2 == 0 else token_ids[part] for i, part in enumerate(parts)]
        documents.append(arrays[0] if len(arrays) == 1 else np.concatenate(arrays))
    return documents


def _chat_token_ids(tokenizer: BaseTokenizer) -> dict[str, np.ndarray]:
    missing = [token for token in CHAT_TOKENS if token not in tokenizer.special_tokens]
    if missing:
        raise ValueError(
            f"the corpus holds conversations, but this {tokenizer.kind} tokenizer does not "
            f"reserve {', '.join(missing)}; let g2c prepare train the tokenizer on this corpus "
            f"(tokenizer='char' or 'bpe'), which reserves them"
        )
    return {token: np.array([tokenizer.special_id(token)], dtype=np.int64) for token in CHAT_TOKENS}

"""A g2c tokenizer as a Hugging Face ``transformers`` tokenizer with the same ids.

    hf = transformers_tokenizer(tokenizer, model_max_length=128)
    hf.save_pretrained(directory)   # tokenizer.json, tokenizer_config.json (+ chat_template.jinja)
    AutoTokenizer.from_pretrained(directory)(text, split_special_tokens=True)["input_ids"]
        == tokenizer.encode(text)                                  # for every text

Both g2c kinds become a ``tokenizers.Tokenizer`` — the Rust library behind
transformers' fast tokenizers — so no custom code is needed to load them:

* **BPE** is already one: g2c trains its merges with ``tokenizers`` and only
  encodes with ``tiktoken`` for speed. The export is a copy of the trained
  tokenizer (byte-level pre-tokenizer with the GPT-2 pattern, the merges,
  byte-level decoder); the tests check that it gives tiktoken's ids.
* **char** becomes a ``WordLevel`` model over ``[*special_tokens, *alphabet]``
  behind a pre-tokenizer that isolates every character — one id per
  character, as :class:`~g2c.tokenizer.CharTokenizer` — and a ``Fuse``
  decoder that joins the characters without spaces. A character outside the
  alphabet is an error in both (transformers says "Missing [UNK] token").

The reserved tokens (``<|endoftext|>`` and, where reserved, ``<|user|>``,
``<|assistant|>``, ``<|end|>``) keep their ids 0..3 as special tokens;
``<|endoftext|>`` is the BOS and EOS token. One difference is deliberate:
g2c's ``encode`` never turns reserved-token *text* into a special id, while
transformers' convention is that it does (``tokenizer("<|end|>")`` is
``[3]``). Chat tooling depends on that convention — ``apply_chat_template``,
and servers that render the template to a string and then tokenize it — so
the export keeps it, and ``tokenizer(text, split_special_tokens=True)`` is the
call that encodes any text exactly as g2c does. With the chat tokens
reserved, the tokenizer carries :data:`~g2c.corpora.CHAT_TEMPLATE`, so
``apply_chat_template(messages)`` gives the ids g2c trains on for that
conversation (``render_chat`` refuses reserved-token text inside a message,
so there the two conventions agree).
"""

from __future__ import annotations

from g2c.corpora.chat import CHAT_TEMPLATE, CHAT_TOKENS
from g2c.tokenizer import EOT, BaseTokenizer, CharTokenizer, G2CTokenizer


def backend_tokenizer(tokenizer: BaseTokenizer):
    """The ``tokenizers.Tokenizer`` that gives ``tokenizer``'s ids (see the module doc)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    if isinstance(tokenizer, G2CTokenizer):
        return Tokenizer.from_str(tokenizer.hf_tokenizer.to_str())  # a copy
    if not isinstance(tokenizer, CharTokenizer):
        raise TypeError(f"tokenizer must be a g2c CharTokenizer or G2CTokenizer; got "
                        f"{type(tokenizer).__name__}")
    pieces = [*tokenizer.special_tokens, *tokenizer.alphabet]
    backend = Tokenizer(models.WordLevel({piece: i for i, piece in enumerate(pieces)},
                                         unk_token=None))
    # [\s\S]: exactly one code point, newlines included, in any regex dialect.
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                for token in tokenizer.special_tokens])
    return backend


def transformers_tokenizer(tokenizer: BaseTokenizer, *, model_max_length: int):
    """``tokenizer`` as a transformers fast tokenizer (needs ``pip install 'g2c[hf]'``).

    ``model_max_length`` is the model's context (``max_seq_len``). The chat
    template comes along when the tokenizer reserves the chat tokens (the BPE
    always does; a char tokenizer when trained on conversations).
    """
    from transformers import PreTrainedTokenizerFast

    chat = all(token in tokenizer.special_tokens for token in CHAT_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend_tokenizer(tokenizer),
        bos_token=EOT,
        eos_token=EOT,
        additional_special_tokens=[t for t in tokenizer.special_tokens if t != EOT],
        chat_template=CHAT_TEMPLATE if chat else None,
        # Decode exactly what the ids spell (no "cleaning" of spaces before punctuation).
        clean_up_tokenization_spaces=False,
        model_max_length=model_max_length,
    )

"""A g2c tokenizer as a Hugging Face ``transformers`` tokenizer with the same ids.

Both kinds become a ``tokenizers.Tokenizer``, so no custom code loads them: the
BPE is a copy of the one g2c trained with ``tokenizers`` (it encodes with
tiktoken only for speed); a char tokenizer becomes a ``WordLevel`` model
behind a pre-tokenizer that isolates every character, with a ``Fuse`` decoder.

One difference is deliberate: transformers turns reserved-token *text* into
special ids (``tokenizer("<|end|>")`` is ``[3]``), which chat tooling relies
on, while g2c never does; ``tokenizer(text, split_special_tokens=True)``
encodes any text exactly as g2c does. With the chat tokens reserved, the
tokenizer carries :data:`~g2c.corpora.CHAT_TEMPLATE`.
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
    """``tokenizer`` as a transformers fast tokenizer (needs ``pip install 'g2c[hf]'``)."""
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

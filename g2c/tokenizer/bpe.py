"""The course tokenizer: byte-level BPE, trained by HF ``tokenizers``, run by ``tiktoken``.

Byte-level BPE starts from the 256 byte values — so *any* Unicode text (emoji,
CJK, NUL, a lone combining accent) has an encoding and ``decode(encode(s)) ==
s`` — and then learns merges: the most frequent adjacent pair becomes one new
token, again and again until the vocabulary is full.

    tok = G2CTokenizer.train(documents, vocab_size=4096)
    ids = tok.encode("To be, or not to be")      # e.g. [1371, 315, 11, 403, ...]
    tok.decode(ids)                              -> "To be, or not to be"

Vocabulary layout (V = vocab_size):

    0 <|endoftext|>  1 <|user|>  2 <|assistant|>  3 <|end|>   reserved special tokens
    4 .. 259         the 256 single bytes
    260 .. V-1       learned merges, in the order they were learned

Special tokens are *never* produced from text. Text is first cut into
pre-tokens by the GPT-2 pattern (letters, digits, punctuation and whitespace
runs apart), merges act only inside a pre-token, and every special token mixes
punctuation with letters — so no merge can spell one. And the literal text
``"<|endoftext|>"`` in a document is encoded as ordinary bytes (we switch off
the library's special-token matching on input), so a document can never
forge a document boundary; only code that appends ``eot_id`` can.

Two libraries, one vocabulary: Hugging Face ``tokenizers`` learns the merges
(its JSON is what we save); ``tiktoken`` built from the same vocabulary
encodes, about ten times faster (docs/benchmarks.md). Their merge rules differ
(merge order vs rank) but give the same ids for a vocabulary learned by BPE,
as the tests check; g2c only ever encodes with ``tiktoken``.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tiktoken
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from g2c.tokenizer.base import SPECIAL_TOKENS, BaseTokenizer, checked_texts
from g2c.validation import require_positive_int, usable_cores

MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256  # the specials plus every byte
# The largest vocab_size we train. Why 2**20 = 1,048,576:
# * it is 4x the largest vocabularies in use (262,144: Gemma 3), so no real request is
#   refused, and each id still fits the uint32 token files;
# * the HF trainer reserves its tables for vocab_size entries before learning anything
#   (~70 bytes each): 2**20 reserves ~70 MiB, while vocab_size=10**9 asks for 70 GB and
#   aborts the process with a Rust backtrace;
# * already at d=128 its embedding alone is 134M parameters — more than any model g2c
#   trains on a CPU — and learning a million merges takes gigabytes of sample text.
MAX_VOCAB_SIZE = 1 << 20

# Long documents are encoded in pieces so both cores work on them. A cut is
# only made between "X\n" and "Y" with X, Y printable ASCII: the GPT-2 pattern
# then ends a pre-token right there ("\n" alone) whatever follows, so the
# pieces' ids concatenate to exactly the whole document's ids.
_SAFE_CUT = re.compile(r"(?<=[!-~]\n)(?=[!-~])")
PIECE_CHARS = 1 << 15
# GPT-2's pre-tokenizer pattern, the one HF's ByteLevel pre-tokenizer applies.
PRETOKENIZE_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def byte_level_spelling() -> dict[str, int]:
    """Character -> byte for byte-level BPE's printable spelling of the 256 bytes.

    Printable Latin-1 bytes spell themselves; the other 68 (controls, space,
    ...) are shifted to the characters 256, 257, ... in byte order. So the
    vocabulary entry "Ġthe" means the bytes b" the".
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    spelling, shifted = {}, 0
    for byte in range(256):
        if byte in printable:
            spelling[chr(byte)] = byte
        else:
            spelling[chr(256 + shifted)] = byte
            shifted += 1
    return spelling


def _tiktoken_engine(hf: Tokenizer) -> tiktoken.Encoding:
    """A tiktoken Encoding with the same ids: rank = id, specials at 0..3."""
    spelling = byte_level_spelling()
    ranks = {
        bytes(spelling[character] for character in token): index
        for token, index in hf.get_vocab().items()
        if index >= len(SPECIAL_TOKENS)
    }
    return tiktoken.Encoding(
        "g2c-bpe",
        pat_str=PRETOKENIZE_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={name: index for index, name in enumerate(SPECIAL_TOKENS)},
    )


def split_at_safe_cuts(text: str, piece_chars: int = PIECE_CHARS) -> list[str]:
    """Cut ``text`` into pieces of about ``piece_chars`` that encode independently."""
    pieces, start = [], 0
    while len(text) - start > piece_chars:
        cut = _SAFE_CUT.search(text, start + piece_chars)
        if cut is None:
            break
        pieces.append(text[start : cut.start()])
        start = cut.start()
    pieces.append(text[start:])
    return pieces


def require_bpe_vocab_size(vocab_size) -> int:
    """Return ``vocab_size`` if it is in [MIN_VOCAB_SIZE, MAX_VOCAB_SIZE] (260 .. 2**20)."""
    vocab_size = require_positive_int("vocab_size", vocab_size)
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: byte-level BPE needs the "
            f"{len(SPECIAL_TOKENS)} special tokens plus 256 byte tokens, so at least "
            f"{MIN_VOCAB_SIZE}"
        )
    if vocab_size > MAX_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size={vocab_size:,} is too large: at most {MAX_VOCAB_SIZE:,} (2**20, four "
            f"times the largest LM vocabularies in use); typical sizes are 4,096 to 262,144"
        )
    return vocab_size


class G2CTokenizer(BaseTokenizer):
    """Byte-level BPE with four reserved special tokens (see the module docstring)."""

    kind = "bpe"

    def __init__(self, hf_tokenizer: Tokenizer, *, source: str = "tokenizer"):
        for expected_id, name in enumerate(SPECIAL_TOKENS):
            if hf_tokenizer.token_to_id(name) != expected_id:
                raise ValueError(
                    f"{source}: special token {name} must have id {expected_id}; got "
                    f"{hf_tokenizer.token_to_id(name)} (not a g2c byte-level BPE tokenizer)"
                )
        self._hf = hf_tokenizer
        # Treat "<|endoftext|>" typed inside a document as plain text (see above),
        # in HF's own encode too; our engine only has encode_ordinary.
        self._hf.encode_special_tokens = True
        try:
            self._engine = _tiktoken_engine(hf_tokenizer)
        except (KeyError, ValueError) as error:
            raise ValueError(f"{source}: not a byte-level BPE vocabulary ({error})") from None

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 4096,
        *,
        min_frequency: int = 2,
        show_progress: bool = False,
    ) -> G2CTokenizer:
        """Learn merges from ``texts`` (an iterable of documents, streamed once).

        ``vocab_size`` is the maximum V including the 4 special tokens and the
        256 bytes (so 260 to ``MAX_VOCAB_SIZE``); a small corpus may run out of
        pairs seen ``min_frequency`` times and stop earlier — read
        ``vocab_size`` after.

        Ctrl-C stops it at once (see :func:`_train_interruptibly`), and an
        error raised by ``texts`` (a bad file) surfaces as soon as it happens.
        """
        vocab_size = require_bpe_vocab_size(vocab_size)
        hf = Tokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
        _train_interruptibly(hf, checked_texts(texts), trainer)
        return cls(hf)

    @property
    def special_tokens(self) -> tuple[str, ...]:
        return SPECIAL_TOKENS

    @property
    def vocab_size(self) -> int:
        return self._hf.get_vocab_size()

    @property
    def hf_tokenizer(self) -> Tokenizer:
        """The underlying ``tokenizers.Tokenizer`` (for interop; do not retrain it)."""
        return self._hf

    def encode_batch_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        pieces, owner = [], []
        for index, text in enumerate(checked_texts(texts)):
            _refuse_surrogates(text)
            for piece in split_at_safe_cuts(text):
                pieces.append(piece)
                owner.append(index)
        if len(pieces) == 1:
            encoded = [self._engine.encode_ordinary(pieces[0])]
        else:  # one call over every piece of every text, on every core
            encoded = self._engine.encode_ordinary_batch(pieces, num_threads=usable_cores())
        grouped: list[list[np.ndarray]] = [[] for _ in texts]
        for index, ids in zip(owner, encoded):
            grouped[index].append(np.array(ids, dtype=np.int64))
        return [parts[0] if len(parts) == 1 else np.concatenate(parts) for parts in grouped]

    def token_byte_lengths(self) -> np.ndarray:
        lengths = np.zeros(self.vocab_size, dtype=np.int64)
        for token, index in self._hf.get_vocab(with_added_tokens=False).items():
            # Byte-level BPE spells each byte as one printable character.
            lengths[index] = len(token)
        lengths[: len(SPECIAL_TOKENS)] = 0
        return lengths

    def _decode_checked(self, ids: np.ndarray) -> str:
        # Ids that end mid-character (a slice of a stream) decode with U+FFFD.
        return self._engine.decode_bytes(ids.tolist()).decode("utf-8", errors="replace")

    def _payload(self) -> dict:
        return {"hf_tokenizer": json.loads(self._hf.to_str())}

    @classmethod
    def _from_payload(cls, payload: dict, source: str) -> G2CTokenizer:
        inner = payload.get("hf_tokenizer")
        model = inner.get("model") if isinstance(inner, dict) else None
        if not isinstance(model, dict) or model.get("type") != "BPE":
            raise ValueError(f"{source}: bpe tokenizer file has no 'hf_tokenizer' BPE model")
        try:
            hf = Tokenizer.from_str(json.dumps(inner))
        except Exception as error:  # the library raises its own Exception type
            raise ValueError(f"{source}: the stored tokenizer could not be read: {error}") from None
        return cls(hf, source=source)


def _refuse_surrogates(text: str) -> None:
    """Lone surrogates are not Unicode text: say so instead of silently replacing them."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"text contains a lone surrogate {text[error.start]!r} at position "
                f"{error.start}: that is not Unicode text and has no UTF-8 bytes to encode"
            ) from None


def _train_interruptibly(hf: Tokenizer, texts: Iterator[str], trainer) -> None:
    """``hf.train_from_iterator(texts, trainer)``, but Ctrl-C and errors in ``texts`` end it now.

    The library cannot be cancelled: an error from the iterator only *ends the
    input*, and the merges are still learned (tens of seconds) before it is
    raised. So the library runs in a daemon worker thread while this thread
    waits, interruptibly, for the worker's end or the iterator's first error;
    then the worker is told to stop reading and its result is dropped.
    """
    outcomes: queue.SimpleQueue = queue.SimpleQueue()  # None, or the first error
    stop = threading.Event()

    def feed() -> Iterator[str]:
        try:
            for text in texts:
                if stop.is_set():
                    return
                yield text
        except Exception as error:  # reported now, not after the merges
            outcomes.put(error)
            raise

    def work() -> None:
        try:
            hf.train_from_iterator(feed(), trainer)
            outcomes.put(None)
        except Exception as error:  # whatever the library raises: the waiting thread raises it
            outcomes.put(error)

    threading.Thread(target=work, name="g2c-bpe-training", daemon=True).start()
    try:
        error = outcomes.get()
    finally:
        stop.set()
    if error is not None:
        raise error

"""ModelConfig: every number and choice that defines a TransformerLM, in one record.

    config = ModelConfig(vocab_size=65, embedding_dim=128, num_layers=2, num_heads=4,
                         max_seq_len=128, positions="rotary", mlp="swiglu")
    model = config.build()                       # a fresh TransformerLM
    ModelConfig.from_dict(config.to_dict()) == config

It is what a track's recipe holds, what ``config.json`` in an artifact stores
(``{"architecture": "TransformerLM", **config.to_dict()}``) and what
``g2c sample`` rebuilds a trained model from. ``vocab_size`` may stay ``None``
in a recipe: the corpus's tokenizer decides it, and the run fills it in with
``dataclasses.replace(config, vocab_size=V)`` before building.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from g2c.transformer.model import TransformerLM

ARCHITECTURE = "TransformerLM"


@dataclass(frozen=True)
class ModelConfig:
    """TransformerLM's constructor arguments.

        vocab_size: V, token ids the model reads and scores (None in a recipe:
            the tokenizer decides).
        embedding_dim: C, the width of the residual stream.
        num_layers: transformer blocks stacked.
        num_heads: attention heads per block (must divide embedding_dim).
        max_seq_len: the longest context the model accepts.
        hidden_dim: MLP width (none: 4 · embedding_dim).
        positions: where order comes from: learned (a table) or rotary.
        mlp: the feed-forward: gelu (GPT-2) or swiglu (gated).
        norm: layer (LayerNorm) or rms (RMSNorm).
        bias: biases in the attention and MLP linears.
        qk_norm: layer-normalise each head's queries and keys before they meet
            (steadies attention at high learning rates; the Muon optimizer's partner).
        output_bias: a learned per-token bias on the logits (off for g2c export:
            stock Hugging Face decoders have none).
        token_shift: add a learned share (one weight per channel, starting at 0) of the
            previous token's embedding to each token's: bigrams without spending attention
            on them (not exportable: no stock Hugging Face decoder has it).
    """

    vocab_size: int | None = None
    embedding_dim: int = 128
    num_layers: int = 4
    num_heads: int = 4
    max_seq_len: int = 128
    hidden_dim: int | None = None  # None: 4 · embedding_dim
    positions: str = "learned"
    mlp: str = "gelu"
    norm: str = "layer"
    bias: bool = True
    qk_norm: bool = False
    output_bias: bool = True
    token_shift: bool = False

    def build(self) -> TransformerLM:
        """A freshly initialised model (seed ``torch.manual_seed`` first for a fixed init)."""
        if self.vocab_size is None:
            raise ValueError("ModelConfig.vocab_size is None: set it to the tokenizer's "
                             "vocabulary size (dataclasses.replace(config, vocab_size=V))")
        arguments = self.to_dict()
        positional = [arguments.pop(name) for name in
                      ("vocab_size", "embedding_dim", "num_layers", "num_heads", "max_seq_len")]
        return TransformerLM(*positional, **arguments)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """Rebuild from :meth:`to_dict` (or ``config.json``) output; unknown keys are an error."""
        values = dict(values)
        architecture = values.pop("architecture", ARCHITECTURE)
        if architecture != ARCHITECTURE:
            raise ValueError(f"the model config describes a {architecture!r}; g2c builds "
                             f"{ARCHITECTURE!r} models only")
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; known: {sorted(known)}")
        return cls(**values)

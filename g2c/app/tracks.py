"""Tracks: named, complete recipes for ``g2c pretrain`` — corpus, tokenizer, model, schedule.

    ShakespeareLM   char-level, ~0.4M parameters: the smoke run on the built-in
                    offline Shakespeare corpus (``make pretrain``, ~3 minutes on 2 cores)
    StoryLM         BPE 4096, ~5M parameters, TinyStories-style children's stories
    TinyLLM         BPE 8192, ~20M parameters, a mixture of stories and plays

Every field can be overridden by a ``g2c pretrain`` flag; the parameter
count, rounded, becomes part of the artifact's name (``ShakespeareLM-407K``),
because "which model is this" starts with "how big is it".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from g2c.training.config import TrainingConfig


@dataclass(frozen=True)
class Track:
    """One preset: what to train on, what to train, and how."""

    name: str
    description: str
    corpus: str  # a SOURCE, as ``g2c prepare --corpus`` reads it
    tokenizer: str  # "char" or "bpe"
    vocab_size: int | None  # BPE vocabulary (None for char: the corpus alphabet decides)
    model: dict  # TransformerLM arguments except vocab_size
    training: TrainingConfig

    def with_overrides(self, *, corpus=None, vocab_size=None, model=None, **training) -> Track:
        """A copy with some fields replaced (None leaves a field as it is)."""
        changes = {key: value for key, value in training.items() if value is not None}
        return replace(
            self,
            corpus=self.corpus if corpus is None else corpus,
            vocab_size=self.vocab_size if vocab_size is None else vocab_size,
            model={**self.model, **(model or {})},
            training=replace(self.training, **changes),
        )


def size_label(num_parameters: int) -> str:
    """A short size for names: 812,345 -> "812K", 1,234,567 -> "1.2M", 27,000,000 -> "27M"."""
    if num_parameters < 1_000_000:
        return f"{round(num_parameters / 1000)}K"
    millions = num_parameters / 1_000_000
    if millions < 10:
        return f"{millions:.1f}M"
    return f"{round(millions)}M" if millions < 1000 else f"{millions / 1000:.1f}B"


TRACKS: dict[str, Track] = {
    track.name: track
    for track in (
        Track(
            name="ShakespeareLM",
            description="char-level, tiny; the built-in offline Shakespeare plays",
            corpus="shakespeare",
            tokenizer="char",
            vocab_size=None,
            # Two layers: in a 15-76 s budget on a CPU a shallow, fast model sees
            # more text and wins (docs/benchmarks.md, "Time to loss").
            model=dict(embedding_dim=128, num_layers=2, num_heads=4, max_seq_len=128,
                       hidden_dim=344, positions="rotary", mlp="swiglu", norm="layer",
                       bias=False),
            training=TrainingConfig(
                batch_size=16, context_length=128, learning_rate=4e-3, min_lr_ratio=0.05,
                warmup_steps=40, weight_decay=0.1, beta2=0.99, grad_clip=1.0,
                max_steps=None, max_time=150.0, eval_interval=1000, val_tokens=131_072,
                eval_batch_size=64, checkpoint_interval=1000, precision="bf16",
            ),
        ),
        Track(
            name="StoryLM",
            description="BPE 4096; TinyStories-style children's stories",
            corpus="hf:roneneldan/TinyStories",
            tokenizer="bpe",
            vocab_size=4096,
            model=dict(embedding_dim=256, num_layers=6, num_heads=8, max_seq_len=256,
                       positions="rotary", mlp="swiglu", norm="rms", bias=False),
            training=TrainingConfig(
                batch_size=32, context_length=256, learning_rate=2e-3, min_lr_ratio=0.1,
                warmup_steps=200, weight_decay=0.1, max_steps=5000, eval_interval=500,
                val_tokens=262_144, checkpoint_interval=1000,
            ),
        ),
        Track(
            name="TinyLLM",
            description="BPE 8192; a mixture of stories and plays",
            corpus="hf:roneneldan/TinyStories=0.7,shakespeare=0.3",
            tokenizer="bpe",
            vocab_size=8192,
            model=dict(embedding_dim=384, num_layers=8, num_heads=6, max_seq_len=512,
                       positions="rotary", mlp="swiglu", norm="rms", bias=False),
            training=TrainingConfig(
                batch_size=16, grad_accum_steps=4, context_length=512, learning_rate=1e-3,
                min_lr_ratio=0.1, warmup_steps=500, weight_decay=0.1, max_steps=20000,
                eval_interval=1000, val_tokens=524_288, checkpoint_interval=1000,
            ),
        ),
    )
}

DEFAULT_TRACK = "ShakespeareLM"


def get_track(name: str) -> Track:
    """The preset called ``name``; a ValueError lists the valid names otherwise."""
    if name not in TRACKS:
        raise ValueError(f"unknown track {name!r}; choose one of: {', '.join(TRACKS)}")
    return TRACKS[name]

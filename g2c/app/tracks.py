"""Tracks: named, complete recipes for ``g2c pretrain`` — corpus, tokenizer, model, schedule.

    ShakespeareLM   char-level, ~0.4M parameters: the smoke run on the built-in
                    offline Shakespeare corpus (``make pretrain``, ~3 minutes on 2 cores)
    StoryLM         BPE 4096, ~5M parameters, TinyStories-style children's stories
    TinyLLM         BPE 8192, ~20M parameters, a mixture of stories and plays

Every field can be overridden by a ``g2c pretrain`` flag; the parameter
count, rounded, becomes part of the artifact's name (``ShakespeareLM-408K``),
because "which model is this" starts with "how big is it".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from g2c.training.config import TrainingConfig
from g2c.transformer import ModelConfig


@dataclass(frozen=True)
class Track:
    """One preset: what to train on, what to train, and how."""

    name: str
    description: str
    corpus: str  # a SOURCE, as ``g2c prepare --corpus`` reads it
    tokenizer: str  # "char" or "bpe"
    vocab_size: int | None  # BPE vocabulary (None for char: the corpus alphabet decides)
    model: ModelConfig  # vocab_size None: the prepared corpus's tokenizer decides it
    training: TrainingConfig


def size_label(num_parameters: int) -> str:
    """A short size for names: 812,345 -> "812K", 1,234,567 -> "1.2M", 27,000,000 -> "27M"."""
    if num_parameters < 1_000_000:
        return f"{round(num_parameters / 1000)}K"
    millions = num_parameters / 1_000_000
    if millions < 10:
        return f"{millions:.1f}M"
    return f"{round(millions)}M" if millions < 1000 else f"{millions / 1000:.1f}B"


# The modern block of the larger tracks: rotary positions, gated MLP, RMSNorm, no biases.
MODERN = ModelConfig(positions="rotary", mlp="swiglu", norm="rms", bias=False)


def _bpe_track(name: str, description: str, corpus: str, vocab_size: int, *, width: int,
               layers: int, heads: int, context: int, **training) -> Track:
    """A BPE track on the modern block, trained at its full context (checkpoints every 1000)."""
    model = replace(MODERN, embedding_dim=width, num_layers=layers, num_heads=heads,
                    max_seq_len=context)
    return Track(name, description, corpus, "bpe", vocab_size, model,
                 TrainingConfig(context_length=context, checkpoint_interval=1000, **training))


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
            # more text and wins (docs/benchmarks.md, "Time to loss"). A token shift
            # (each character's embedding plus a learned share of the previous one's):
            # 0.016-0.028 lower validation loss after 800 steps. No stock transformers
            # decoder has one, so g2c export needs --no-token-shift; no output bias (it
            # cost nothing measurable here) then maps the model exactly onto StableLM.
            # Muon with QK-norm: more learned per second than AdamW in the same budget;
            # warmup-stable-decay: as good per step as cosine, and a time budget can
            # re-aim its decay while it runs, so the run fills its budget.
            # 16 windows per step for the first 750K tokens (about 40 s here), 32 after:
            # small batches learn more per second early, big ones later
            # (docs/benchmarks.md, "Time to loss"). 512 validation windows, scored at the
            # end (step 0 is scored on the initial check's 32 windows; see the Trainer).
            model=ModelConfig(embedding_dim=128, num_layers=2, num_heads=4, max_seq_len=128,
                              hidden_dim=344, positions="rotary", mlp="swiglu", norm="layer",
                              bias=False, qk_norm=True, output_bias=False, token_shift=True),
            training=TrainingConfig(
                batch_size=32, start_batch_size=16, batch_ramp_tokens=750_000,
                context_length=128, learning_rate=4e-3, min_lr_ratio=0.05,
                warmup_steps=40, lr_schedule="wsd", weight_decay=0.1, beta2=0.99,
                optimizer="muon", muon_learning_rate=0.035, grad_clip=1.0,
                max_steps=None, max_time=150.0, eval_interval=1000, val_tokens=65_536,
                eval_batch_size=64, checkpoint_interval=1000,
            ),
        ),
        _bpe_track("StoryLM", "BPE 4096; TinyStories-style children's stories",
                   "hf:roneneldan/TinyStories", 4096, width=256, layers=6, heads=8, context=256,
                   batch_size=32, learning_rate=2e-3, warmup_steps=200, max_steps=5000,
                   eval_interval=500, val_tokens=262_144),
        # 16 windows x 4 accumulation steps = 64 windows of 512 tokens per update.
        _bpe_track("TinyLLM", "BPE 8192; a mixture of stories and plays",
                   "hf:roneneldan/TinyStories=0.7,shakespeare=0.3", 8192, width=384, layers=8,
                   heads=6, context=512, batch_size=16, grad_accum_steps=4, warmup_steps=500,
                   max_steps=20000, eval_interval=1000, val_tokens=524_288),
    )
}

DEFAULT_TRACK = "ShakespeareLM"


def get_track(name: str) -> Track:
    """The preset called ``name``; a ValueError lists the valid names otherwise."""
    if name not in TRACKS:
        raise ValueError(f"unknown track {name!r}; choose one of: {', '.join(TRACKS)}")
    return TRACKS[name]

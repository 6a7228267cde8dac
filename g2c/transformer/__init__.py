"""The model: a decoder-only causal transformer that maps (B, T) ids to (B, T, V) logits."""

from g2c.transformer.config import ModelConfig
from g2c.transformer.generate import generate
from g2c.transformer.model import TransformerLM

__all__ = ["ModelConfig", "TransformerLM", "generate"]

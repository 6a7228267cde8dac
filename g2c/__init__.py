"""g2c: learn language-model pretraining by doing it (layers: docs/architecture.md)."""

__version__ = "0.1.0"

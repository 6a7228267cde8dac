"""Neural-network pieces from earlier modules that 09B builds on."""

from g2c.nn.cross_entropy import CrossEntropyLoss, cross_entropy

__all__ = ["CrossEntropyLoss", "cross_entropy"]

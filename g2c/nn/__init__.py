"""Neural-network pieces from earlier modules that 09B builds on, and the fused LM-head loss.

    cross_entropy / CrossEntropyLoss   (N, V) logits, (N,) targets -> loss (Module 03)
    linear_cross_entropy               hidden @ weight.T + bias and the loss in chunks,
                                       never holding the (N, V) logits
"""

from g2c.nn.cross_entropy import CrossEntropyLoss, cross_entropy
from g2c.nn.linear_cross_entropy import linear_cross_entropy

__all__ = ["CrossEntropyLoss", "cross_entropy", "linear_cross_entropy"]

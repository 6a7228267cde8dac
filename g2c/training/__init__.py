"""The training loop and what surrounds it: config, optimizer, schedule, checkpoints.

    Trainer(model, train_ids, val_ids, TrainingConfig(...)).fit() -> TrainingResult
    tracks: named presets (ShakespeareLM, StoryLM, TinyLLM) for ``g2c pretrain``
"""

from g2c.training.config import TrainingConfig
from g2c.training.trainer import InitialLossError, Trainer, TrainingDiverged, TrainingResult

__all__ = ["InitialLossError", "Trainer", "TrainingConfig", "TrainingDiverged", "TrainingResult"]

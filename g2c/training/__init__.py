"""The training loop and its parts: ``Trainer(model, train_ids, val_ids, config).fit()``."""

from g2c.training.config import TrainingConfig
from g2c.training.step_guard import TrainingDiverged
from g2c.training.trainer import InitialLossError, Trainer, TrainingResult

__all__ = ["InitialLossError", "Trainer", "TrainingConfig", "TrainingDiverged", "TrainingResult"]

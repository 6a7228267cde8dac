"""The training loop and its parts: config, optimizer, schedule, precision, evaluation,
checkpoints, batches, distribution and CPU tuning.

    Trainer(model, train_ids, val_ids, TrainingConfig(...)).fit() -> TrainingResult

Nothing here reads a command line or writes an artifact: that is ``g2c.app``.
"""

from g2c.training.config import TrainingConfig
from g2c.training.step_guard import TrainingDiverged
from g2c.training.trainer import InitialLossError, Trainer, TrainingResult

__all__ = ["InitialLossError", "Trainer", "TrainingConfig", "TrainingDiverged", "TrainingResult"]

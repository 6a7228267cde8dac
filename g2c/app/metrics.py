"""A run's metrics, as it trains: ``metrics.jsonl`` always, TensorBoard when installed.

One JSON object per log step, flushed as the run goes (``tail -f`` and
``g2c compare`` see a live run); with ``tensorboard`` the same numbers go to
``<artifact>/tb/``. A resumed run drops the records after its checkpoint's step.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from g2c.atomic_files import atomic_write_text

METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tb"
# metrics.jsonl key -> TensorBoard tag
TAGS = {"train_loss": "train/loss", "val_loss": "val/loss", "val_bpb": "val/bpb",
        "lr": "train/lr", "grad_norm": "train/grad_norm",
        "tokens_per_second": "speed/tokens_per_second"}


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics.jsonl file (a missing file has none)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not a JSON record ({error})") from None
    return records


class MetricsLog:
    """Appends records to ``directory/metrics.jsonl`` (and TensorBoard; None: when installed).
    ``resume_step``: the step a resumed run restarts from (None: the file starts empty)."""

    def __init__(self, directory: str | os.PathLike, *, tensorboard: bool | None = None,
                 resume_step: int | None = None) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / METRICS_NAME
        kept = [] if resume_step is None else [
            r for r in read_metrics(self.path) if r["step"] <= resume_step]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        if tensorboard and not tensorboard_available():
            raise ValueError("--tensorboard needs the tensorboard package: pip install "
                             "'g2c[tensorboard]' (or run without --tensorboard)")
        self.writer = None
        if tensorboard is None and tensorboard_available() or tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a crashed run wrote after its checkpoint.
            self.writer = SummaryWriter(log_dir=str(directory / TENSORBOARD_DIR),
                                        purge_step=None if resume_step is None
                                        else resume_step + 1)
        self._file = self.path.open("a", encoding="utf-8")

    def __call__(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self.writer is not None:
            for key, tag in TAGS.items():
                if record.get(key) is not None:
                    self.writer.add_scalar(tag, record[key], global_step=record["step"])

    def close(self) -> None:
        self._file.close()
        if self.writer is not None:
            self.writer.close()

"""Runs side by side: one picture of their learning curves and of what each learned.

The validation curves (from ``metrics.jsonl``) are in **bits per byte**, so a
character model and a BPE model share one axis; given corpora, the models x
corpora matrix of :mod:`g2c.app.evaluate` is a heatmap too. Each model is
usually best on the text it was trained on.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from g2c.app.evaluate import evaluate_artifact
from g2c.app.metrics import METRICS_NAME, read_metrics
from g2c.atomic_files import atomic_write_bytes


@dataclass(frozen=True)
class Comparison:
    """What ``compare_runs`` found: curves per run, and the bits-per-byte matrix."""

    runs: list  # run names (artifact folder names)
    curves: dict  # run -> [(tokens, seconds, val bits per byte), ...]
    corpora: list  # matrix columns
    matrix: np.ndarray | None  # (runs, corpora) bits per byte, None without corpora

    def table(self) -> str:
        if self.matrix is None:
            return ""
        width = max(len(run) for run in self.runs)
        header = " " * width + "".join(f"  {corpus[-24:]:>24s}" for corpus in self.corpora)
        rows = [f"{run:{width}s}" + "".join(f"  {value:24.4f}" for value in values)
                for run, values in zip(self.runs, self.matrix)]
        return "\n".join([header + "   (bits per byte)", *rows])


def validation_curve(artifact: str | os.PathLike) -> list[tuple[int, float, float]]:
    """(tokens seen, seconds, val bits per byte) for every evaluation of a run."""
    path = Path(artifact) / METRICS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{artifact} has no {METRICS_NAME}: it was trained before g2c "
                                f"wrote metrics; train it again to compare its curve")
    return [(r["tokens"], r["seconds"], r["val_bpb"]) for r in read_metrics(path)
            if r.get("val_bpb") is not None]


def compare_figure(comparison: Comparison):
    from matplotlib.figure import Figure

    panels = 3 if comparison.matrix is not None else 2
    figure = Figure(figsize=(5.2 * panels, 4.2), dpi=110, layout="constrained")
    by_tokens, by_seconds, *rest = figure.subplots(1, panels)
    for run in comparison.runs:
        tokens, seconds, bpb = zip(*comparison.curves[run]) if comparison.curves[run] else ((),) * 3
        by_tokens.plot(tokens, bpb, marker="o", markersize=3, label=run)
        by_seconds.plot(seconds, bpb, marker="o", markersize=3, label=run)
    for axes, label in ((by_tokens, "tokens seen"), (by_seconds, "training seconds")):
        axes.set_xlabel(label)
        axes.set_ylabel("validation bits per byte")
        axes.grid(alpha=0.3)
    by_tokens.legend(fontsize=8)
    by_tokens.set_title("learning per token")
    by_seconds.set_title("learning per second")
    if rest:
        heat = rest[0]
        image = heat.imshow(comparison.matrix, cmap="viridis_r", aspect="auto")
        heat.set_xticks(range(len(comparison.corpora)),
                        [Path(c).name or c for c in comparison.corpora], rotation=20, ha="right")
        heat.set_yticks(range(len(comparison.runs)), comparison.runs)
        middle = (np.nanmin(comparison.matrix) + np.nanmax(comparison.matrix)) / 2
        for (row, column), value in np.ndenumerate(comparison.matrix):  # dark on light cells
            heat.text(column, row, f"{value:.3f}", ha="center", va="center",
                      color="black" if value < middle else "white")
        heat.set_title("bits per byte: models x corpora")
        figure.colorbar(image, ax=heat)
    return figure


def compare_runs(artifacts: list, *, corpora: list = (), out: str | os.PathLike | None = None,
                 whole: bool = False, device: str = "cpu") -> Comparison:
    """Collect the runs' curves (and the matrix on ``corpora``); draw them to ``out``."""
    if not artifacts:
        raise ValueError("compare needs at least one ARTIFACT")
    runs = [Path(artifact).name for artifact in artifacts]
    if len(set(runs)) != len(runs):
        raise ValueError(f"two artifacts share a folder name ({', '.join(runs)}); the picture "
                         f"labels runs by folder name, so give them different names")
    curves = {run: validation_curve(artifact) for run, artifact in zip(runs, artifacts)}
    matrix = None
    if corpora:
        matrix = np.array([[score.bits_per_byte for score in evaluate_artifact(
            artifact, list(corpora), whole=whole, device=device)] for artifact in artifacts])
    comparison = Comparison(runs, curves, list(corpora), matrix)
    if out is not None:
        buffer = io.BytesIO()
        compare_figure(comparison).savefig(buffer, format="png")
        atomic_write_bytes(out, buffer.getvalue())
    return comparison

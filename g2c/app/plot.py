"""loss.png: the training and validation curves against the uniform baseline log(V).

The curves should start on the dashed log(V) line (a model that knows
nothing) and fall away; a validation curve that turns up is overfitting.
"""

from __future__ import annotations

import io
import os

from g2c.atomic_files import atomic_write_bytes


def plot_losses(path: str | os.PathLike, history: dict, log_vocab: float, *, title: str) -> None:
    """Write the curves in ``history`` ({"train": [(step, loss)], "val": [...]}) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for name, style in (("train", dict(linewidth=1.2)), ("val", dict(marker="o", markersize=3))):
        points = history.get(name) or []
        if points:
            steps, losses = zip(*points)
            axes.plot(steps, losses, label=f"{name} loss", **style)
    axes.axhline(log_vocab, color="gray", linestyle="--", linewidth=1,
                 label=f"log(V) = {log_vocab:.2f} (uniform guess)")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("cross-entropy (nats per token)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())

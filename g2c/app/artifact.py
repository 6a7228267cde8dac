"""A trained model as a folder a person can use: ``artifacts/models/<Track>-<size>/``.

    weights.safetensors   the parameters (safetensors: tensors only, nothing executable)
    config.json           how to rebuild the model: TransformerLM arguments
    tokenizer.json        how to turn text into ids and back
    manifest.json         the run: corpus manifest, training config, tokens seen,
                          wall time, final_train_loss / final_val_loss, step-0 loss
                          vs log(V), device, library versions, the loss history
    loss.png              train/val curves with the dashed log(V) line
    samples.txt           a few generations
    checkpoint.pt         the full training state (for --resume)

Every file is written atomically, so a crash leaves the old file or the new
one. ``load_artifact`` reads weights with safetensors — never pickle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from g2c.atomic_files import atomic_write_bytes, atomic_write_text
from g2c.tokenizer import BaseTokenizer, load_tokenizer
from g2c.training.checkpoint import load_checkpoint
from g2c.training.config import run_identity
from g2c.transformer import TransformerLM

ARTIFACT_FORMAT = "g2c-model"
MODEL_ARCHITECTURE = "TransformerLM"
CHECKPOINT_NAME = "checkpoint.pt"
RUN_FILES = ("manifest.json", CHECKPOINT_NAME)


def model_config(vocab_size: int, model_arguments: dict) -> dict:
    """config.json's content: the architecture name and every constructor argument."""
    return {"architecture": MODEL_ARCHITECTURE, "vocab_size": vocab_size, **model_arguments}


def build_model(config: dict) -> TransformerLM:
    """A fresh TransformerLM from :func:`model_config` output."""
    arguments = dict(config)
    architecture = arguments.pop("architecture", None)
    if architecture != MODEL_ARCHITECTURE:
        raise ValueError(f"config.json describes a {architecture!r}; g2c builds "
                         f"{MODEL_ARCHITECTURE!r} models only")
    return TransformerLM(**arguments)


def write_json(path: str | os.PathLike, value: dict) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def save_weights(path: str | os.PathLike, model: torch.nn.Module) -> None:
    """The model's parameters as safetensors (contiguous CPU tensors)."""
    from safetensors.torch import save

    tensors = {name: tensor.detach().cpu().contiguous()
               for name, tensor in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={"format": ARTIFACT_FORMAT}))


def write_artifact(directory: str | os.PathLike, *, model: torch.nn.Module, config: dict,
                   tokenizer: BaseTokenizer, manifest: dict) -> Path:
    """Write weights, config, tokenizer and manifest into ``directory`` (plots/samples apart)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(directory / "weights.safetensors", model)
    write_json(directory / "config.json", config)
    tokenizer.save(directory / "tokenizer.json")
    write_json(directory / "manifest.json", {"format": ARTIFACT_FORMAT, **manifest})
    return directory


def resolve_artifact(name_or_path: str | os.PathLike, root: str | os.PathLike) -> Path:
    """An artifact directory from a path, or from a bare name under ``root``."""
    path = Path(name_or_path)
    for candidate in (path, Path(root) / path):
        if (candidate / "config.json").is_file():
            return candidate
    available = sorted(p.name for p in Path(root).glob("*") if (p / "config.json").is_file())
    raise FileNotFoundError(
        f"no model artifact at {path} (looked for config.json there and under {root}); "
        + (f"available: {', '.join(available)}" if available else "train one with g2c pretrain")
    )


def load_artifact(directory: str | os.PathLike) -> tuple[TransformerLM, BaseTokenizer, dict]:
    """(model in eval mode, tokenizer, manifest) from an artifact directory."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in ("config.json", "weights.safetensors", "tokenizer.json"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a complete model artifact: {name} is "
                                    f"missing")
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    model = build_model(config)
    model.load_state_dict(load_file(directory / "weights.safetensors"))
    tokenizer = load_tokenizer(directory / "tokenizer.json")
    if tokenizer.vocab_size != model.vocab_size:
        raise ValueError(f"{directory}: tokenizer.json has V={tokenizer.vocab_size} but the "
                         f"model was built for V={model.vocab_size}")
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() \
        else {}
    return model.eval(), tokenizer, manifest


def existing_run(directory: str | os.PathLike) -> dict | None:
    """The identity of the run already in ``directory`` (None if there is none).

    ``{"run": ..., "finished": bool, "step": int | None}``: "run" is what
    :func:`run_identity` recorded — from manifest.json for a finished run,
    from the checkpoint for an interrupted one.
    """
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        return {"run": manifest.get("run"), "finished": True, "step": manifest.get("steps")}
    if (directory / CHECKPOINT_NAME).is_file():
        state = load_checkpoint(directory / CHECKPOINT_NAME)
        return {"run": run_identity(state["config"], state["metadata"]), "finished": False,
                "step": state["step"]}
    return None

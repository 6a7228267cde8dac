"""A trained model as a folder a person can use: ``artifacts/models/<Track>-<size>/``.

    weights.safetensors   the parameters (tensors only, nothing executable: never pickle)
    config.json           ``{"architecture": "TransformerLM", **ModelConfig}``
    tokenizer.json        how to turn text into ids and back
    manifest.json         the run (:class:`ArtifactManifest`)
    run.toml              the resolved recipe: g2c pretrain --config run.toml repeats it
    metrics.jsonl, tb/    one record per log step (and TensorBoard event files)
    loss.png, samples.txt the curves against log(V), a few generations
    checkpoint.pt         the full training state (for --resume)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from g2c.atomic_files import atomic_write_bytes, atomic_write_text
from g2c.tokenizer import BaseTokenizer, load_tokenizer
from g2c.training.checkpoint import load_checkpoint
from g2c.training.config import run_identity
from g2c.transformer import ModelConfig, TransformerLM
from g2c.transformer.config import ARCHITECTURE

ARTIFACT_FORMAT = "g2c-model"
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class ArtifactManifest:
    """manifest.json: what was trained, on what, how, and how well (losses in nats per token)."""

    name: str
    track: str
    parameters: int
    final_val_loss: float
    final_val_bpb: float  # bits per byte of the validation text: comparable across tokenizers
    final_train_loss: float
    val_tokens: int
    initial_check: dict  # step-0 loss, log(V), verdict
    steps: int
    tokens_seen: int
    stopped: str  # "max_steps" or "max_time"
    skipped_steps: int  # fp16 steps the loss scaler skipped
    training_seconds: float
    wall_seconds: float  # including preparing the corpus, evaluation and writing
    timing: dict
    device: str
    precision: str  # the resolved one: "fp32", "bf16" or "fp16"
    math: dict  # the matmul settings in effect: {"tf32": bool, "deterministic": bool}
    cpu_native_bf16: bool | None  # on a CPU run: does it multiply bf16 natively?
    world_size: int
    fsdp: bool
    threads: int
    run: dict  # run_identity(training, metadata): what --resume and --overwrite compare
    training: dict  # TrainingConfig
    model: dict  # ModelConfig
    corpus: dict  # the prepared corpus's manifest
    packing: dict | None  # the PackingPlan summary in packed mode
    versions: dict
    history: dict
    format: str = ARTIFACT_FORMAT


def model_config_json(config: ModelConfig) -> dict:
    return {"architecture": ARCHITECTURE, **config.to_dict()}


def write_json(path: str | os.PathLike, value: dict) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False) + "\n")


def save_weights(path: str | os.PathLike, model: torch.nn.Module) -> None:
    from safetensors.torch import save

    tensors = {name: tensor.detach().cpu().contiguous()
               for name, tensor in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={"format": ARTIFACT_FORMAT}))


def write_model(directory: str | os.PathLike, *, model: torch.nn.Module, config: ModelConfig,
                tokenizer: BaseTokenizer) -> Path:
    """Write what ``load_artifact`` needs — weights, config, tokenizer — into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(directory / "weights.safetensors", model)
    write_json(directory / "config.json", model_config_json(config))
    tokenizer.save(directory / "tokenizer.json")
    return directory


def write_manifest(directory: str | os.PathLike, manifest: ArtifactManifest) -> None:
    write_json(Path(directory) / "manifest.json", asdict(manifest))


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


def read_model_config(directory: str | os.PathLike) -> ModelConfig:
    """The :class:`ModelConfig` in an artifact's ``config.json`` (no weights are read)."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a model artifact: config.json is missing")
    return ModelConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_artifact(directory: str | os.PathLike) -> tuple[TransformerLM, BaseTokenizer, dict]:
    """(model in eval mode, tokenizer, manifest) from an artifact directory."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in ("config.json", "weights.safetensors", "tokenizer.json"):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a complete model artifact: {name} is "
                                    f"missing")
    model = read_model_config(directory).build()
    weights = directory / "weights.safetensors"
    try:
        model.load_state_dict(load_file(weights))
    except Exception as error:  # safetensors' own error type (truncated file), or shapes/keys
        raise ValueError(f"{weights} does not hold this model's weights ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:200]}); the file is truncated or belongs "
                         f"to another config.json — train or copy the artifact again") from None
    tokenizer = load_tokenizer(directory / "tokenizer.json")
    if tokenizer.vocab_size != model.vocab_size:
        raise ValueError(f"{directory}: tokenizer.json has V={tokenizer.vocab_size} but the "
                         f"model was built for V={model.vocab_size}")
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() \
        else {}
    return model.eval(), tokenizer, manifest


def existing_run(directory: str | os.PathLike) -> dict | None:
    """``{"run": run_identity, "finished": bool, "step": int | None}`` of the run already in
    ``directory`` (from manifest.json, or the checkpoint of an unfinished one); None if none."""
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

"""The main job, as one function: a track in, a model artifact out.

    run_pretraining(get_track("ShakespeareLM"))    what ``g2c pretrain`` does

1. prepare the corpus (``g2c.corpora.prepare_corpus``; reused when unchanged)
2. build the model from the track and count its parameters -> the artifact name
3. refuse an output directory that holds a *different* run (or an unfinished
   one) unless asked to ``overwrite`` or ``resume``
4. train (``Trainer.fit``): step-0 check, progress, evaluations, checkpoints
5. write the artifact: weights, config, tokenizer, manifest, loss.png, samples.txt
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import g2c
from g2c.atomic_files import atomic_write_text
from g2c.training.artifact import (
    CHECKPOINT_NAME,
    build_model,
    existing_run,
    model_config,
    write_artifact,
)
from g2c.training.config import describe_differences, run_identity
from g2c.training.plot import plot_losses
from g2c.training.threads import single_thread
from g2c.training.tracks import Track, get_track, size_label
from g2c.training.distributed import DistributedContext
from g2c.training.distributed_run import (
    check_checkpoint_world_size,
    exported_model,
    make_trainer,
    prepare_rank0_first,
)
from g2c.transformer import generate

SAMPLE_COUNT = 3
SAMPLE_TOKENS = {"char": 400, "bpe": 150}
SAMPLE_TEMPERATURE = 0.8


def track_from_arguments(args) -> Track:
    """The named track with the command line's overrides applied."""
    track = get_track(args.track)
    max_steps, max_time = args.max_steps, args.max_time
    if (max_steps is None) != (max_time is None):
        # One limit given: it replaces the preset's limits rather than adding to them.
        limits = {"max_steps": max_steps, "max_time": max_time}
    else:
        limits = {"max_steps": max_steps or track.training.max_steps,
                  "max_time": max_time or track.training.max_time}
    track = track.with_overrides(
        corpus=args.corpus, vocab_size=args.vocab_size, batch_size=args.batch_size,
        context_length=args.context_length, learning_rate=args.learning_rate,
        grad_accum_steps=args.grad_accum_steps, eval_interval=args.eval_interval,
        seed=args.seed, threads=args.threads, precision=args.precision, compile=args.compile,
        fused_loss=args.fused_loss, batch_mode=args.batch_mode,
        device=args.device, ignore_initial_loss_check=args.ignore_initial_loss_check or None,
    )
    return replace(track, training=replace(track.training, **limits))


def corpus_label(source: str) -> str:
    """A short readable name for a corpus SOURCE: "shakespeare", "tinyshakespeare" (from a path)."""
    text = Path(source).stem if Path(source).exists() else source
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "corpus"


def corpus_slug(source: str) -> str:
    """A folder name for a SOURCE's prepared data; paths and specs get a hash, so
    two different files that share a name never share a folder."""
    label = corpus_label(source)
    path = Path(source)
    key = str(path.resolve()) if path.exists() else source
    if label == source:
        return label
    return f"{label}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def artifact_name(track: Track, num_parameters: int) -> str:
    """``<Track>-<size>``, plus the corpus when it is not the track's own."""
    name = f"{track.name}-{size_label(num_parameters)}"
    if track.corpus != get_track(track.name).corpus:
        name += f"-{corpus_label(track.corpus)}"
    return name


def prepare_track_corpus(track: Track, data_dir: str | Path, *, quiet: bool):
    """The track's corpus, prepared under ``data_dir`` (reused when its inputs are unchanged)."""
    from g2c.corpora import prepare_corpus

    vocab = f"{track.vocab_size}" if track.tokenizer == "bpe" else ""
    directory = Path(data_dir) / f"{corpus_slug(track.corpus)}-{track.tokenizer}{vocab}"
    # The folder is g2c's cache for exactly this SOURCE, so a changed input is rebuilt.
    return prepare_corpus(track.corpus, directory, tokenizer=track.tokenizer,
                          vocab_size=track.vocab_size if track.tokenizer == "bpe" else None,
                          progress=not quiet, overwrite=True)


def check_output_directory(out: Path, identity: dict, *, resume, overwrite: bool) -> None:
    """Refuse to replace a different or unfinished run without --overwrite (or --resume)."""
    existing = existing_run(out)
    if existing is None or resume or overwrite:
        if overwrite and not resume:
            (out / CHECKPOINT_NAME).unlink(missing_ok=True)  # never resume a replaced run
        return
    if not existing["finished"]:
        raise FileExistsError(
            f"{out} holds an unfinished run (checkpoint at step {existing['step']}); continue it "
            f"with --resume, start over with --overwrite, or choose another --out")
    differences = describe_differences(existing["run"] or {}, identity)
    if differences:
        raise FileExistsError(
            f"{out} already holds a different run ({'; '.join(differences[:6])}); pass "
            f"--overwrite to replace it, or choose another --out")


def run_pretraining(track: Track, *, out=None, resume=None, overwrite: bool = False,
                    data_dir="data", artifacts_root="artifacts/models", quiet: bool = False,
                    context: DistributedContext | None = None, fsdp: bool = False) -> int:
    """Train ``track`` and write its artifact; returns a process exit code (130 if interrupted).

    Under torchrun every rank calls this with its ``context``; only rank 0
    prints and writes files (see ``g2c.training.distributed_run``).
    """
    wall_start = time.perf_counter()
    context = context or DistributedContext()
    prepared = prepare_rank0_first(
        context, lambda quiet: prepare_track_corpus(track, data_dir, quiet=quiet), quiet=quiet)
    config_dict = model_config(prepared.vocab_size, track.model)
    torch.manual_seed(track.training.seed)
    model = build_model(config_dict)
    num_parameters = sum(p.numel() for p in model.parameters())
    name = artifact_name(track, num_parameters)
    out = Path(out) if out is not None else Path(artifacts_root) / name
    manifest = prepared.manifest
    metadata = {
        "track": track.name,
        "model": config_dict,
        "corpus": {"recipe": manifest["recipe"], "tokenizer_sha256": manifest["tokenizer"]["sha256"],
                   "train_sha256": manifest["splits"]["train"]["sha256"],
                   "val_sha256": manifest["splits"]["val"]["sha256"]},
    }
    check_output_directory(out, run_identity(track.training.to_dict(), metadata),
                           resume=resume, overwrite=overwrite)
    trainer = make_trainer(context, fsdp, model, prepared.train, prepared.val, track.training,
                           train_documents=prepared.train_doc_offsets, eot_id=prepared.eot_id,
                           checkpoint_path=out / CHECKPOINT_NAME, metadata=metadata, quiet=quiet)
    packing = trainer.batches.packing  # the PackingPlan, or None for random windows
    if resume:
        checkpoint = out / CHECKPOINT_NAME if resume is True else resume
        check_checkpoint_world_size(checkpoint, context.world_size)
        trainer.resume(checkpoint)
    say = _say if context.is_main else _silent
    say(f"{name}: {num_parameters:,} parameters | {prepared.tokenizer.kind} V={prepared.vocab_size}"
         f" | corpus {manifest['corpus']['name']}: {len(prepared.train):,} train / "
         f"{len(prepared.val):,} val tokens | validation set: {len(trainer.validation.x)} fixed "
         f"windows x {track.training.context_length} = {trainer.validation.num_tokens:,} tokens | "
         f"{trainer.device.type}, {trainer.precision.precision}, {torch.get_num_threads()} threads"
        + ("" if packing is None else f" | packed: {packing.num_rows:,} rows, "
           f"{packing.padding_fraction:.1%} padding"))
    result = trainer.fit()
    if result.stopped == "interrupted":
        say(f"to continue: add --resume to the same g2c pretrain command (the output is {out})")
        return 130
    trained = exported_model(trainer, lambda: build_model(config_dict))  # collective
    if not context.is_main:
        return 0
    samples = _samples(trained, prepared.tokenizer, track.training.seed)
    timing = {key: round(value, 6) if isinstance(value, float) else value
              for key, value in result.timing.items()}
    write_artifact(out, model=trained, config=config_dict, tokenizer=prepared.tokenizer,
                   manifest={
        "name": name, "track": track.name, "parameters": num_parameters,
        "final_val_loss": result.final_val_loss, "final_train_loss": result.final_train_loss,
        "val_tokens": result.val_tokens, "initial_check": result.initial_check,
        "steps": result.steps, "tokens_seen": result.tokens_seen, "stopped": result.stopped,
        "training_seconds": round(result.elapsed, 3),
        "wall_seconds": round(time.perf_counter() - wall_start, 3), "timing": timing,
        "device": str(trainer.device), "precision": trainer.precision.precision,
        "world_size": context.world_size, "fsdp": fsdp,
        "threads": torch.get_num_threads(), "run": run_identity(track.training.to_dict(), metadata),
        "training": track.training.to_dict(), "model": config_dict, "corpus": manifest,
        "packing": None if packing is None else packing.summary(),
        "versions": {"g2c": g2c.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "history": result.history,
    })
    plot_losses(out / "loss.png", result.history, result.initial_check["log_vocab"],
                title=f"{name} on {manifest['corpus']['name']}")
    atomic_write_text(out / "samples.txt", samples)
    _say(f"final train loss {result.final_train_loss:.4f} | final val loss "
         f"{result.final_val_loss:.4f} ({result.val_tokens:,} tokens) | {result.steps} steps, "
         f"{result.tokens_seen:,} tokens in {result.elapsed:.1f} s "
         f"({timing['tokens_per_second']:,.0f} tokens/s)")
    _say(f"artifact: {out}\nsample from it: g2c sample {out}")
    return 0


def _samples(model, tokenizer, seed: int) -> str:
    """A few generations from the start of a document, separated by rules."""
    generator = torch.Generator().manual_seed(seed)
    texts = []
    for number in range(1, SAMPLE_COUNT + 1):
        with single_thread():
            ids = generate(model, [tokenizer.eot_id], SAMPLE_TOKENS.get(tokenizer.kind, 200),
                           temperature=SAMPLE_TEMPERATURE, stop_id=tokenizer.eot_id,
                           generator=generator)
        texts.append(f"--- sample {number} (temperature {SAMPLE_TEMPERATURE}) ---\n"
                     f"{tokenizer.decode(ids)}\n")
    return "\n".join(texts)


def _silent(text: str) -> None:
    """What ranks other than 0 do with a message."""


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

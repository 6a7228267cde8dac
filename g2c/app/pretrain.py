"""The main job, as one function: a track in, a model artifact out (``g2c pretrain``).

Prepare the corpus (rank 0 first), build the model, refuse an output directory
holding another run, train, write the artifact.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import g2c
from g2c.app.artifact import CHECKPOINT_NAME, ArtifactManifest, write_manifest, write_model
from g2c.app.metrics import MetricsLog
from g2c.app.output import check_writable, checkpoint_bytes, plan_output, publish_artifact
from g2c.app.plot import plot_losses
from g2c.app.recipe import recipe_toml
from g2c.app.tracks import Track, get_track, size_label
from g2c.atomic_files import atomic_write_text
from g2c.training import Trainer
from g2c.training.config import run_identity
from g2c.training.cpu_tuning import native_cpu_bf16
from g2c.training.distributed import DistributedContext
from g2c.training.threads import single_thread
from g2c.transformer import generate

RECIPE_NAME = "run.toml"  # the resolved recipe: g2c pretrain --config <artifact>/run.toml
SAMPLE_COUNT = 3
SAMPLE_TOKENS = {"char": 400, "bpe": 150}
SAMPLE_TEMPERATURE = 0.8


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
    """The track's corpus, prepared under ``data_dir`` (reused when its inputs are unchanged);
    a directory ``g2c prepare`` wrote is used as it is (checked against the track's tokenizer)."""
    from g2c.corpora import is_prepared_dir, open_prepared, prepare_corpus

    if is_prepared_dir(track.corpus):
        return open_prepared(track.corpus, tokenizer=track.tokenizer, vocab_size=track.vocab_size)

    if track.tokenizer in ("char", "bpe"):
        tokenizer_label = track.tokenizer + (f"{track.vocab_size}" if track.vocab_size else "")
    else:  # a tokenizer.json file: named by its content, so an edited file is a new folder
        digest = hashlib.sha256(Path(track.tokenizer).read_bytes()).hexdigest()[:8]
        tokenizer_label = f"{corpus_label(track.tokenizer)}-{digest}"
    directory = Path(data_dir) / f"{corpus_slug(track.corpus)}-{tokenizer_label}"
    # The folder is g2c's cache for exactly this SOURCE, so a changed input is rebuilt.
    return prepare_corpus(track.corpus, directory, tokenizer=track.tokenizer,
                          vocab_size=track.vocab_size, progress=not quiet, overwrite=True)


def check_fits_in_memory(config) -> None:
    """Refuse a model whose training state (weights, gradients, AdamW's two moments, counted
    on the "meta" device) cannot fit in memory: one line instead of an allocation failure."""
    try:
        with torch.device("meta"):
            shapes = config.build()
        needed = 4 * sum(t.numel() * t.element_size() for t in (*shapes.parameters(),
                                                               *shapes.buffers()))
    except RuntimeError:  # "Storage size calculation overflowed": past any memory
        needed = float("inf")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > total:
        raise ValueError(f"this model needs about {needed / 2**30:,.1f} GiB to train (weights, "
                         f"gradients, optimizer state) but this machine has {total / 2**30:,.1f}"
                         f" GiB; choose a smaller --width, --layers, --max-seq-len or vocabulary")


def prepare_rank0_first(context: DistributedContext, prepare, *, quiet: bool):
    """Rank 0 prepares (or reuses) the corpus while the others wait, then they reuse it:
    N processes writing one folder at once would race."""
    if context.is_main:
        prepared = prepare(quiet=quiet)
    context.wait_for_rank0()  # not bounded by --dist-timeout: preparing can take long
    if not context.is_main:
        prepared = prepare(quiet=True)
    return prepared


def run_pretraining(track: Track, *, out=None, resume=None, overwrite: bool = False,
                    data_dir="data", artifacts_root="artifacts/models", quiet: bool = False,
                    context: DistributedContext | None = None, fsdp: bool = False,
                    tensorboard: bool | None = None) -> int:
    """Train ``track`` and write its artifact; returns a process exit code (130 if interrupted).

    Under torchrun every rank calls this with its ``context``; only rank 0 prints
    and writes files.
    """
    wall_start = time.perf_counter()
    context = context or DistributedContext()
    say = _say if context.is_main else _silent
    if context.is_main and not resume:  # before any tokenizing
        check_writable(Path(out) if out is not None else Path(artifacts_root), 0)
    prepared = prepare_rank0_first(
        context, lambda quiet: prepare_track_corpus(track, data_dir, quiet=quiet), quiet=quiet)
    model_config = replace(track.model, vocab_size=prepared.vocab_size)
    check_fits_in_memory(model_config)
    torch.manual_seed(track.training.seed)
    model = model_config.build()
    num_parameters = sum(p.numel() for p in model.parameters())
    name = artifact_name(track, num_parameters)
    out = Path(out) if out is not None else Path(artifacts_root) / name
    manifest = prepared.manifest
    metadata = {
        "track": track.name,
        "model": model_config.to_dict(),
        # The token data itself, by content: a touched (unchanged) file is the same run.
        "corpus": {"data_sha256": prepared.data_hash},
    }
    plan = context.gather_objects(plan_output(
        out, run_identity(track.training.to_dict(), metadata), resume=resume,
        overwrite=overwrite, needed_bytes=checkpoint_bytes(num_parameters))
        if context.is_main else None)[0]  # rank 0 decides for every rank
    if plan == "up_to_date":
        say(f"{out} already holds this run, finished; nothing to train (--overwrite trains it "
            f"again, --out DIR writes another copy)")
        return 0
    trainer = Trainer(model, prepared.train, prepared.val, track.training, context=context,
                      fsdp=fsdp, train_documents=prepared.train_doc_offsets,
                      eot_id=prepared.eot_id,
                      token_bytes=prepared.tokenizer.token_byte_lengths(),
                      checkpoint_path=out / CHECKPOINT_NAME, metadata=metadata, quiet=quiet)
    context = trainer.context
    packing = trainer.batches.packing  # the PackingPlan, or None for windows
    if resume:
        trainer.resume(out / CHECKPOINT_NAME if resume is True else resume)
    if context.is_main:
        trainer.log.on_log = MetricsLog(out, tensorboard=tensorboard,
                                        resume_step=trainer.step if resume else None)
    say(f"{name}: {num_parameters:,} parameters | {prepared.tokenizer.kind} V={prepared.vocab_size}"
        f" | corpus {manifest['corpus']['name']}: {len(prepared.train):,} train / "
        f"{len(prepared.val):,} val tokens | validation set: {len(trainer.validation.x)} fixed "
        f"windows x {track.training.context_length} = {trainer.validation.num_tokens:,} tokens | "
        f"{trainer.device.type}, {trainer.precision.precision}, {torch.get_num_threads()} threads"
        + ("" if packing is None else f" | packed: {packing.num_rows:,} rows, "
           f"{packing.padding_fraction:.1%} padding"))
    try:
        result = trainer.fit()
    finally:
        if trainer.log.on_log is not None:
            trainer.log.on_log.close()
    if result.stopped == "interrupted":
        say(f"to continue: add --resume to the same g2c pretrain command (the output is {out})")
        return 130
    weights = trainer.model_state_dict()  # a collective: every rank takes part
    if not context.is_main:
        return 0
    trained = model_config.build()
    trained.load_state_dict(weights)
    timing = {key: round(value, 6) if isinstance(value, float) else value
              for key, value in result.timing.items()}
    artifact = ArtifactManifest(
        name=name, track=track.name, parameters=num_parameters,
        final_val_loss=result.final_val_loss, final_val_bpb=result.final_val_bpb,
        final_train_loss=result.final_train_loss,
        val_tokens=result.val_tokens, initial_check=result.initial_check, steps=result.steps,
        tokens_seen=result.tokens_seen, stopped=result.stopped,
        skipped_steps=result.skipped_steps, training_seconds=round(result.elapsed, 3),
        wall_seconds=round(time.perf_counter() - wall_start, 3), timing=timing,
        device=str(trainer.device), precision=trainer.precision.precision, math=trainer.math,
        cpu_native_bf16=native_cpu_bf16() if trainer.device.type == "cpu" else None,
        world_size=context.world_size, fsdp=fsdp, threads=torch.get_num_threads(),
        run=run_identity(track.training.to_dict(), metadata),
        training=track.training.to_dict(), model=model_config.to_dict(), corpus=manifest,
        packing=None if packing is None else packing.summary(),
        versions={"g2c": g2c.__version__, "torch": torch.__version__, "numpy": np.__version__,
                  "python": platform.python_version()},
        history=result.history,
    )
    publish_artifact(out, lambda folder: _write_artifact(folder, trained, model_config,
                                                         prepared.tokenizer, artifact, track))
    _say(f"final train loss {result.final_train_loss:.4f} | final val loss "
         f"{result.final_val_loss:.4f} = {result.final_val_bpb:.4f} bits/byte "
         f"({result.val_tokens:,} tokens) | {result.steps} steps, "
         f"{result.tokens_seen:,} tokens in {result.elapsed:.1f} s "
         f"({timing['tokens_per_second']:,.0f} tokens/s)")
    _say(f"artifact: {out}\nsample from it: g2c sample {out}")
    return 0


def _write_artifact(folder: Path, model, config, tokenizer, manifest: ArtifactManifest,
                    track: Track) -> None:
    write_model(folder, model=model, config=config, tokenizer=tokenizer)
    write_manifest(folder, manifest)
    plot_losses(folder / "loss.png", manifest.history, manifest.initial_check["log_vocab"],
                title=f"{manifest.name} on {manifest.corpus['corpus']['name']}")
    atomic_write_text(folder / "samples.txt", _samples(model, tokenizer, track.training.seed))
    atomic_write_text(folder / RECIPE_NAME, recipe_toml(track))


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
    pass


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

"""``g2c pretrain``: run a track end to end — corpus, tokenizer, model, training, artifact.

    g2c pretrain                                   ShakespeareLM on the built-in plays (~3 min)
    g2c pretrain --max-time 15                     the same recipe, a 15-second budget
    g2c pretrain --corpus ../shared/data/tinyshakespeare.txt --max-time 76
    g2c pretrain --track StoryLM --corpus stories.jsonl --max-steps 2000
    g2c pretrain --resume                          continue an interrupted run (Ctrl-C saves one)
    g2c pretrain --batch-mode packed               rows of whole documents instead of random windows
    g2c pretrain --nproc 2 [--fsdp]                2 processes under torchrun (docs/scaling.md)

A thin shell over :func:`g2c.app.pretrain.run_pretraining`: this file turns
flags into a :class:`~g2c.app.tracks.Track` (the preset, with overrides) and
starts torchrun for ``--nproc``; the recipes live in ``g2c.app.tracks``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from g2c.app.tracks import DEFAULT_TRACK, TRACKS, Track, get_track
from g2c.training.config import BATCH_MODES
from g2c.training.distributed import DEFAULT_TIMEOUT_SECONDS

ARTIFACTS_ROOT = "artifacts/models"
# Flags that override a TrainingConfig field of the track, by field name.
TRAINING_FLAGS = ("batch_size", "context_length", "learning_rate", "grad_accum_steps",
                  "eval_interval", "seed", "threads", "precision", "compile", "cpu_tuning",
                  "fused_loss", "z_loss", "batch_mode", "device")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain", help="train a language model on a named track and save it as an artifact",
        description="Train a named track (a preset corpus, tokenizer, model and schedule); any "
        "preset value can be overridden by a flag.",
    )
    parser.add_argument("--track", default=DEFAULT_TRACK, choices=list(TRACKS),
                        help=f"the preset to run (default {DEFAULT_TRACK})")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    parser.add_argument("--max-time", type=float, metavar="SECONDS",
                        help="wall-clock training budget; the learning rate decays over it")
    parser.add_argument("--corpus", metavar="SOURCE",
                        help="corpus (same syntax as g2c prepare --corpus; default: the track's)")
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    parser.add_argument("--out", metavar="DIR",
                        help=f"artifact directory (default {ARTIFACTS_ROOT}/<Track>-<size>)")
    parser.add_argument("--resume", nargs="?", const=True, metavar="CHECKPOINT",
                        help="continue from the checkpoint in the output directory (or CHECKPOINT)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different run already in the output directory")
    parser.add_argument("--data-dir", default="data", metavar="DIR",
                        help="where prepared corpora are kept (default data/)")
    training = parser.add_argument_group("recipe overrides (default: the track's value)")
    training.add_argument("--batch-size", type=int)
    training.add_argument("--context-length", type=int)
    training.add_argument("--learning-rate", type=float)
    training.add_argument("--grad-accum-steps", type=int)
    training.add_argument("--eval-interval", type=int)
    training.add_argument("--vocab-size", type=int, help="BPE vocabulary size")
    training.add_argument("--seed", type=int)
    training.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    training.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                          help="compute dtype (auto: bf16 where the hardware multiplies bf16 "
                               "natively — CUDA GPUs with bf16, CPUs with AMX or AVX512-BF16 — "
                               "else fp32)")
    training.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                          help="wrap the model in torch.compile")
    training.add_argument("--cpu-tuning", action=argparse.BooleanOptionalAction, default=None,
                          help="the CPU speed policy (default on): bf16 for auto precision on "
                               "CPUs with native bf16, explicit bf16 attention, flushed "
                               "denormals, adaptive threads; --no-cpu-tuning: plain PyTorch")
    training.add_argument("--fused-loss", action=argparse.BooleanOptionalAction, default=None,
                          help="LM head and loss in one chunked function (default on); "
                               "--no-fused-loss materialises the (B, T, V) logits")
    training.add_argument("--z-loss", type=float, metavar="WEIGHT",
                          help="add WEIGHT·logsumexp(logits)² to the loss (PaLM: 1e-4; "
                               "default 0, off)")
    training.add_argument("--batch-mode", choices=BATCH_MODES,
                          help="windows: random windows of the stream (default); documents: "
                               "random windows that never cross a document boundary; packed: "
                               "rows of whole documents, attention kept inside each document")
    parser.add_argument("--ignore-initial-loss-check", action="store_true", default=None,
                        help="train even if the step-0 loss is far below log(V)")
    parser.add_argument("--quiet", action="store_true", help="log lines instead of progress bars")
    scale = parser.add_argument_group("scale out (docs/scaling.md)")
    scale.add_argument(
        "--nproc", type=int, default=None, metavar="N",
        help="train on N processes on this machine (launches torchrun; at most one per "
             "CPU core or GPU). Each draws its own windows: the global batch is N times larger")
    scale.add_argument(
        "--fsdp", action="store_true",
        help="shard parameters, gradients and optimizer state across processes with FSDP2 "
             "instead of replicating them with DDP (needs 2+ processes)")
    scale.add_argument(
        "--dist-timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="SECONDS",
        help="a collective waiting longer than this (a hung rank) ends the run "
             f"(default {DEFAULT_TIMEOUT_SECONDS:g})")
    parser.set_defaults(func=run)


def track_from_arguments(args) -> Track:
    """The named track with the command line's overrides applied (a flag left out keeps
    the preset's value)."""
    track = get_track(args.track)
    changes = {name: getattr(args, name) for name in (*TRAINING_FLAGS, "ignore_initial_loss_check")
               if getattr(args, name) is not None}
    if args.max_steps is not None or args.max_time is not None:
        # A limit given replaces the preset's limits rather than adding to them.
        changes.update(max_steps=args.max_steps, max_time=args.max_time)
    return replace(track, corpus=args.corpus or track.corpus,
                   vocab_size=args.vocab_size or track.vocab_size,
                   training=replace(track.training, **changes))


def run(args) -> int:
    from g2c.app.launch import relaunch_under_torchrun

    # Before anything heavy: with --nproc N this process only launches torchrun.
    device = None if args.device in (None, "auto") else args.device
    if (code := relaunch_under_torchrun(args.nproc, sys.argv[1:], device=device)) is not None:
        return code
    from g2c.app.pretrain import run_pretraining
    from g2c.training.distributed import check_fsdp_options, destroy_distributed, init_distributed

    track = track_from_arguments(args)
    if args.fsdp:
        world_size = int(os.environ.get("WORLD_SIZE", 1))
        check_fsdp_options(world_size, compile=bool(track.training.compile))
    context = init_distributed(device=track.training.device, timeout_seconds=args.dist_timeout)
    try:
        return run_pretraining(
            track, out=args.out, resume=args.resume, overwrite=args.overwrite,
            data_dir=args.data_dir, artifacts_root=ARTIFACTS_ROOT, quiet=args.quiet,
            context=context, fsdp=args.fsdp,
        )
    finally:
        destroy_distributed()

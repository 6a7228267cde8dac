"""``g2c pretrain``: run a track end to end — corpus, tokenizer, model, training, artifact.

    g2c pretrain                                   ShakespeareLM on the built-in plays (~3 min)
    g2c pretrain --max-time 15                     the same recipe, a 15-second budget
    g2c pretrain --corpus ../shared/data/tinyshakespeare.txt --max-time 76
    g2c pretrain --track StoryLM --corpus stories.jsonl --max-steps 2000
    g2c pretrain --resume                          continue an interrupted run (Ctrl-C saves one)
    g2c pretrain --batch-mode packed               rows of whole documents instead of random windows
    g2c pretrain --nproc 2 [--fsdp]                2 processes under torchrun (docs/scaling.md)
    g2c pretrain --layers 4 --width 192 --tokenizer bpe --vocab-size 2048
    g2c pretrain --config artifacts/models/X/run.toml --out other/   repeat a run

A thin shell over :func:`g2c.app.pretrain.run_pretraining`: this file turns
flags (one per recipe key, generated from the dataclasses by
``g2c.app.recipe``) and a ``--config`` file into a
:class:`~g2c.app.tracks.Track`, and starts torchrun for ``--nproc``.
"""

from __future__ import annotations

import argparse
import os
import sys

from g2c.app.recipe import NONE, merge, read_recipe, recipe_fields, resolve_track
from g2c.app.tracks import DEFAULT_TRACK, TRACKS, Track
from g2c.commands.arguments import ARTIFACTS_ROOT
from g2c.training.distributed import DEFAULT_TIMEOUT_SECONDS

# Short spellings of the model's size; every other recipe key is --its-name.
FLAG_NAMES = {"num_layers": "--layers", "embedding_dim": "--width", "num_heads": "--heads",
              "hidden_dim": "--mlp-hidden"}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain", help="train a language model on a named track and save it as an artifact",
        description="Train a track (a preset corpus, tokenizer, model and schedule); --config "
        "run.toml overrides it and flags, one per recipe key, override the file.")
    parser.add_argument("--config", metavar="RUN.TOML",
                        help="a recipe file (e.g. an artifact's run.toml): its track is the base, "
                             "its values override it, and flags override the file")
    parser.add_argument("--out", metavar="DIR",
                        help=f"artifact directory (default {ARTIFACTS_ROOT}/<Track>-<size>)")
    parser.add_argument("--resume", nargs="?", const=True, metavar="CHECKPOINT",
                        help="continue from the checkpoint in the output directory (or CHECKPOINT)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different run already in the output directory")
    parser.add_argument("--data-dir", default="data", metavar="DIR",
                        help="where prepared corpora are kept (default data/)")
    parser.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=None,
                        help="also write TensorBoard event files to <artifact>/tb/ (default: on "
                             "when the tensorboard package is installed)")
    parser.add_argument("--quiet", action="store_true", help="log lines instead of progress bars")
    groups = {None: parser.add_argument_group("what to train (default: the track's)"),
              "model": parser.add_argument_group("model (default: the track's ModelConfig)"),
              "training": parser.add_argument_group(
                  "training (default: the track's TrainingConfig)")}
    for field in recipe_fields():
        flag = FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
        help_text = field.help + (f" ({' | '.join(field.choices)})" if field.choices else "")
        if field.name == "track":
            groups[None].add_argument(flag, choices=list(TRACKS), dest=field.key,
                                      help=f"the preset to start from (default {DEFAULT_TRACK})")
        elif field.kind is bool:
            groups[field.section].add_argument(flag, dest=field.key, default=None,
                                               action=argparse.BooleanOptionalAction,
                                               help=help_text)
        else:
            metavar = f"{field.kind.__name__.upper()}{'|' + NONE if field.optional else ''}"
            groups[field.section].add_argument(flag, dest=field.key, metavar=metavar,
                                               help=help_text)
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
    """The track the command line describes: track < --config file < flags."""
    flags: dict = {}
    for field in recipe_fields():
        value = getattr(args, field.key)
        if value is not None:
            flag = FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-"))
            target = flags if field.section is None else flags.setdefault(field.section, {})
            target[field.name] = field.parse(value, flag)
    from_file = read_recipe(args.config) if args.config else {}
    return resolve_track(merge(from_file, flags))


def run(args) -> int:
    from g2c.app.launch import relaunch_under_torchrun

    track = track_from_arguments(args)
    # Before anything heavy: with --nproc N this process only launches torchrun.
    device = None if track.training.device == "auto" else track.training.device
    if (code := relaunch_under_torchrun(args.nproc, sys.argv[1:], device=device)) is not None:
        return code
    from g2c.app.pretrain import run_pretraining
    from g2c.training.distributed import destroy_distributed, init_distributed
    from g2c.training.parallel import check_fsdp_options

    if args.fsdp:
        world_size = int(os.environ.get("WORLD_SIZE", 1))
        check_fsdp_options(world_size, compile=bool(track.training.compile))
    context = init_distributed(device=track.training.device, timeout_seconds=args.dist_timeout)
    try:
        return run_pretraining(
            track, out=args.out, resume=args.resume, overwrite=args.overwrite,
            data_dir=args.data_dir, artifacts_root=ARTIFACTS_ROOT, quiet=args.quiet,
            context=context, fsdp=args.fsdp, tensorboard=args.tensorboard,
        )
    finally:
        destroy_distributed()

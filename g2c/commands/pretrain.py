"""``g2c pretrain``: run a track end to end — corpus, tokenizer, model, training, artifact.

    g2c pretrain                                   ShakespeareLM on the built-in plays (~3 min)
    g2c pretrain --max-time 15                     the same recipe, a 15-second budget
    g2c pretrain --corpus ../shared/data/tinyshakespeare.txt --max-time 76
    g2c pretrain --track StoryLM --corpus stories.jsonl --max-steps 2000
    g2c pretrain --resume                          continue an interrupted run (Ctrl-C saves one)
    g2c pretrain --batch-mode packed               rows of whole documents instead of random windows
    g2c pretrain --nproc 2 [--fsdp]                2 processes under torchrun (docs/scaling.md)

The steps: prepare the corpus (reused when already prepared), build the
model, train with the step-0 log(V) check and a progress bar, then write
``artifacts/models/<Track>-<size>/`` (see ``g2c.training.artifact``). A thin
shell over :class:`g2c.training.Trainer`; the recipe lives in
``g2c.training.tracks``.
"""

from __future__ import annotations

import argparse
import os
import sys

from g2c.training.config import BATCH_MODES
from g2c.training.tracks import DEFAULT_TRACK, TRACKS

ARTIFACTS_ROOT = "artifacts/models"


def add_parser(subparsers) -> None:
    from g2c.training.launch import add_launch_arguments

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
                          help="compute dtype (auto: bf16 on CUDA, fp32 on CPU)")
    training.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                          help="wrap the model in torch.compile")
    training.add_argument("--fused-loss", action=argparse.BooleanOptionalAction, default=None,
                          help="LM head and loss in one chunked function (default on); "
                               "--no-fused-loss materialises the (B, T, V) logits")
    training.add_argument("--batch-mode", choices=BATCH_MODES,
                          help="windows: random windows of the stream (default); packed: rows "
                               "of whole documents, attention kept inside each document")
    parser.add_argument("--ignore-initial-loss-check", action="store_true",
                        help="train even if the step-0 loss is far below log(V)")
    parser.add_argument("--quiet", action="store_true", help="log lines instead of progress bars")
    add_launch_arguments(parser.add_argument_group("scale out (docs/scaling.md)"))
    parser.set_defaults(func=run)


def run(args) -> int:
    from g2c.training.launch import relaunch_under_torchrun

    # Before anything heavy: with --nproc N this process only launches torchrun.
    device = None if args.device in (None, "auto") else args.device
    if (code := relaunch_under_torchrun(args.nproc, sys.argv[1:], device=device)) is not None:
        return code
    from g2c.training.distributed import check_fsdp_options, destroy_distributed, init_distributed
    from g2c.training.pretrain_run import run_pretraining, track_from_arguments

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

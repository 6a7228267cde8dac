"""``g2c evaluate ARTIFACT [--corpus SOURCE ...]``: a thin shell over
:func:`g2c.app.evaluate.evaluate_artifact` (loss, perplexity, bits per byte)."""

from __future__ import annotations

import json

from g2c.commands.arguments import ARTIFACTS_ROOT, add_artifact_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained model on corpora: loss, perplexity, bits per byte")
    add_artifact_argument(parser)
    parser.add_argument("--corpus", action="append", default=[], metavar="SOURCE",
                        help="a corpus (g2c prepare --corpus syntax); repeat for several "
                             "(default: the artifact's own, from its run.toml)")
    parser.add_argument("--all", action="store_true",
                        help="score the whole corpus, not its validation split (last 10%%)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")


def run(args) -> int:
    from g2c.app.artifact import resolve_artifact
    from g2c.app.evaluate import evaluate_artifact, score_table

    scores = evaluate_artifact(resolve_artifact(args.artifact, ARTIFACTS_ROOT), args.corpus,
                               whole=args.all, device=args.device)
    print(json.dumps([s.row() for s in scores], indent=2) if args.json else score_table(scores))
    return 0

"""``g2c compare ARTIFACT ... [--corpus SOURCE ...] --out compare.png``: a thin shell over
:func:`g2c.app.compare.compare_runs` (curves, and the models x corpora matrix, also printed)."""

from __future__ import annotations

from g2c.commands.arguments import ARTIFACTS_ROOT, add_artifact_argument


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="plot runs' curves in bits per byte and a models x corpora matrix")
    add_artifact_argument(parser, many=True)
    parser.add_argument("--corpus", action="append", default=[], metavar="SOURCE",
                        help="score every model on this corpus too; repeat for several")
    parser.add_argument("--all", action="store_true",
                        help="score whole corpora, not their validation splits")
    parser.add_argument("--out", default="compare.png", metavar="PNG",
                        help="where to write the picture (default compare.png)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto")


def run(args) -> int:
    from g2c.app.artifact import resolve_artifact
    from g2c.app.compare import compare_runs

    artifacts = [resolve_artifact(a, ARTIFACTS_ROOT) for a in args.artifacts]
    comparison = compare_runs(artifacts, corpora=args.corpus, out=args.out, whole=args.all,
                              device=args.device)
    if comparison.matrix is not None:
        print(comparison.table())
    print(f"wrote {args.out}")
    return 0

"""The ``g2c`` command line: one verb per file in ``g2c/commands``, each registering its flags
with ``add_parser(subparsers)``; its ``run(args)`` is a thin shell over a Python API."""

from __future__ import annotations

import argparse
import importlib
import sys

from g2c import __version__
from g2c.validation import ReportedError

VERBS = ("prepare", "pretrain", "sample", "evaluate", "compare", "export", "check", "grade",
         "scaffold")


def build_parser(verbs=VERBS) -> argparse.ArgumentParser:
    """The parser for ``verbs``; each verb module is imported only when its parser is built,
    so ``main`` builds just the verb it runs (``g2c prepare`` never imports PyTorch)."""
    parser = argparse.ArgumentParser(
        prog="g2c", description="Learn and do language-model pretraining."
    )
    parser.add_argument("--version", action="version", version=f"g2c {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in verbs:
        module = importlib.import_module(f"g2c.commands.{verb}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verbs = argv[:1] if argv and argv[0] in VERBS else VERBS  # no verb yet: --help lists all
    args = build_parser(verbs).parse_args(argv)
    run = importlib.import_module(f"g2c.commands.{args.verb}").run
    try:
        return int(run(args) or 0)
    except (ValueError, OSError, ReportedError) as error:
        # A user's mistake (ValueError), the machine's (OSError: a missing file, no
        # permission, a full disk) or a run's (ReportedError: training diverged) is one
        # clear line. Anything else is a bug in g2c and keeps its traceback.
        print(f"g2c {args.verb}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"g2c {args.verb}: interrupted", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    """The message of ``error``; an OSError with a file name says which file."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error)

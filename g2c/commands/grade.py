"""``g2c grade``: not built yet (see the open issues)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("grade", help="(not built yet)")
    parser.set_defaults(func=run)


def run(args) -> int:
    raise NotImplementedError("g2c grade is not built yet")

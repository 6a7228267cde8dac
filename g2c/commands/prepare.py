"""``g2c prepare``: not built yet (see the open issues)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("prepare", help="(not built yet)")
    parser.set_defaults(func=run)


def run(args) -> int:
    raise NotImplementedError("g2c prepare is not built yet")

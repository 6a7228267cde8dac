"""What several verbs share on the command line: where artifacts live, how one is named."""

from __future__ import annotations

ARTIFACTS_ROOT = "artifacts/models"


def add_artifact_argument(parser, *, many: bool = False) -> None:
    """The ARTIFACT positional: a folder, or a name under ``artifacts/models/``."""
    if many:
        parser.add_argument("artifacts", nargs="+", metavar="ARTIFACT",
                            help=f"artifact directories, or names under {ARTIFACTS_ROOT}/")
    else:
        parser.add_argument("artifact", metavar="ARTIFACT",
                            help=f"artifact directory, or its name under {ARTIFACTS_ROOT}/")

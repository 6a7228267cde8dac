"""``g2c grade MODULE [NOTEBOOK]``: grade a module's exercises offline (see
:mod:`g2c.course.notebook_grading`). Only a failure to grade, never a wrong answer, exits non-zero.
"""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "grade", help="grade a module's notebook exercises (offline)"
    )
    parser.add_argument("module", help="module id, e.g. 09b")
    parser.add_argument(
        "notebook", nargs="?", default=None,
        help="notebook to grade (default: your working copy in notebooks/work/)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")


def run(args) -> int:
    import sys

    from g2c.course.modules import PROJECT_ROOT, get_module
    from g2c.course.notebook_grading import grade_notebook
    from g2c.course.workspace import working_copy_path

    module = get_module(args.module)
    notebook = args.notebook or working_copy_path(module, PROJECT_ROOT)
    if args.notebook is None and not notebook.exists():
        raise FileNotFoundError(
            f"no working copy at {notebook}; start one with ./noteboosh.sh {module.id} "
            "or pass the notebook to grade"
        )
    print(f"Grading {notebook} (running it in a fresh kernel) ...", flush=True)
    try:
        report = grade_notebook(module.id, notebook, timeout=args.timeout)
    except RuntimeError as error:
        print(f"g2c grade: error: {error}", file=sys.stderr)
        return 1
    print(report.table())
    return 0

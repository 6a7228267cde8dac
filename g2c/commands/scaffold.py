"""``g2c scaffold MODULE --out DIR``: write the student version of the project
(:mod:`g2c.course.scaffold`)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "scaffold", help="write the student version of the project for a module"
    )
    parser.add_argument("module", help="module id, e.g. 09b")
    parser.add_argument("--out", required=True, help="new (or empty) directory outside the project")


def run(args) -> int:
    from g2c.course.modules import get_module
    from g2c.course.scaffold import scaffold_project

    module = get_module(args.module)
    report = scaffold_project(module.id, args.out)
    print(f"Wrote the student version of {module.id} ({module.title}) to {report.out_dir}")
    for name, count in sorted(report.blanked.items()):
        print(f"  {name}: {count} solution region{'s' if count != 1 else ''} blanked")
    print(f"Next: cd {report.out_dir} && ./noteboosh.sh {module.id}")
    return 0

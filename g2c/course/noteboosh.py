"""``./noteboosh.sh <module> [--fresh] [--no-launch]``: open a module's notebook.

Runs the module's tests (warning, not stopping, on failures), archives the
working copy with ``--fresh``, copies the clean notebook if there is no copy,
checks it, and starts JupyterLab on it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import quote

from g2c.course.module_tests import run_module_tests
from g2c.course.modules import CourseModule, get_module, known_modules
from g2c.course.notebooks import read_notebook
from g2c.course.workspace import archive_working_copy, ensure_working_copy

SCRIPT = "./noteboosh.sh"
INSTALL_JUPYTERLAB = ".venv/bin/pip install -c constraints.txt -e '.[notebook]'"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=SCRIPT, description="Open a course module's exercise notebook in JupyterLab."
    )
    parser.add_argument("module", help=f"module id, e.g. 09b (known: {known_modules()})")
    parser.add_argument("--fresh", action="store_true",
                        help="archive your working copy to notebooks/archive/ and start clean")
    parser.add_argument("--no-launch", action="store_true",
                        help="prepare and check the working copy but do not start JupyterLab")
    return parser


def report_module_tests(module: CourseModule, root: Path) -> None:
    """Run the module's tests; print the counts, and a warning if any fail."""
    print(f"Running the {module.id} tests ...", flush=True)
    try:
        summary = run_module_tests(module.id, root)
    except RuntimeError as error:
        print(f"WARNING: could not run the {module.id} tests: {error}")
        return
    if summary.ok:
        print(f"{module.id} tests: {summary}.")
        return
    print(
        f"WARNING: {module.id} tests: {summary}. That is expected while exercises are open; "
        f"the notebook says which ones to fix. Details: .venv/bin/{summary.command}"
    )
    for line in summary.failed_tests():
        print(f"    {line}")


def has_display() -> bool:
    """False on a Linux machine without X11/Wayland (a server, a container, CI)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def jupyterlab_command(root: Path, notebook: Path, *, port: int, open_browser: bool) -> list[str]:
    """The JupyterLab command line; the token is passed in JUPYTER_TOKEN, not here."""
    command = [
        sys.executable, "-m", "jupyterlab", str(notebook.relative_to(root)),
        f"--ServerApp.root_dir={root}", f"--port={port}", "--port-retries=0",
    ]
    if not open_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses otherwise
    return command


def launch_jupyterlab(root: Path, notebook: Path) -> int:
    """Replace this process with JupyterLab on ``notebook``; 1 if it is not installed."""
    if importlib.util.find_spec("jupyterlab") is None:
        print(f"JupyterLab is not installed in .venv. Install it with:\n    {INSTALL_JUPYTERLAB}",
              file=sys.stderr)
        return 1
    port, token = free_port(), secrets.token_hex(16)
    open_browser = has_display()
    path = quote(notebook.relative_to(root).as_posix())
    url = f"http://localhost:{port}/lab/tree/{path}?token={token}"
    where = "JupyterLab opens it in your browser" if open_browser else "open it in a browser"
    print(f"Starting JupyterLab ({where}; Ctrl-C stops it):\n    {url}", flush=True)
    command = jupyterlab_command(root, notebook, port=port, open_browser=open_browser)
    os.execve(sys.executable, command, {**os.environ, "JUPYTER_TOKEN": token})
    return 0  # not reached: execve does not return


def main(argv: list[str] | None = None, *, root: Path | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = Path.cwd() if root is None else Path(root)  # noteboosh.sh cds to the project root
    try:
        module = get_module(args.module)
    except ValueError as error:
        print(f"{SCRIPT}: {error}", file=sys.stderr)
        return 2
    report_module_tests(module, root)
    if args.fresh:
        archived = archive_working_copy(module, root)
        if archived is None:
            print("No working copy to archive yet: starting from the clean notebook.")
        else:
            print(f"Archived your working copy to {archived.relative_to(root)}")
    work, created = ensure_working_copy(module, root)
    relative = work.relative_to(root)
    print(f"{'Created' if created else 'Using'} your working copy {relative}")
    try:
        read_notebook(work)
    except ValueError as error:
        print(
            f"{SCRIPT}: {error}\nNothing was changed. To archive this copy (it is kept) and "
            f"start again from the clean notebook, run:\n    {SCRIPT} {module.id} --fresh",
            file=sys.stderr,
        )
        return 1
    if args.no_launch:
        print(f"Ready. Open {relative} in JupyterLab, or run {SCRIPT} {module.id} to start it.")
        return 0
    return launch_jupyterlab(root, work)


if __name__ == "__main__":
    sys.exit(main())

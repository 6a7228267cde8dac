"""Run a course module's tests in a fresh interpreter and count the outcomes (from pytest's
JUnit XML). ``root`` goes first on PYTHONPATH, so the tests judge that checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from g2c.course.modules import PROJECT_ROOT, get_module


@dataclass(frozen=True)
class ModuleTestSummary:
    """Outcome counts of one pytest run, and its console output."""

    passed: int
    failed: int
    errors: int
    skipped: int
    command: str
    output: str

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.errors == 0

    def failed_tests(self) -> list[str]:
        """The ``FAILED ...`` / ``ERROR ...`` lines of pytest's short summary."""
        return [line for line in self.output.splitlines() if line.startswith(("FAILED", "ERROR"))]

    def __str__(self) -> str:
        others = ((self.failed, "failed"), (self.errors, "errors"), (self.skipped, "skipped"))
        return ", ".join([f"{self.passed} passed"] + [f"{n} {what}" for n, what in others if n])


def _counts_from_junit(path: Path) -> tuple[int, int, int, int]:
    suites = ElementTree.parse(path).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites.iter("testsuite"))
    total = {key: sum(int(s.get(key, 0)) for s in suites)
             for key in ("tests", "failures", "errors", "skipped")}
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return passed, total["failures"], total["errors"], total["skipped"]


def run_module_tests(module_id: str, root: str | Path = PROJECT_ROOT) -> ModuleTestSummary:
    """Run the tests of ``module_id`` in the project at ``root``; RuntimeError only when pytest
    could not run at all."""
    module = get_module(module_id)
    root = Path(root).resolve()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory() as scratch:
        junit = Path(scratch) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
                   f"--junitxml={junit}", *module.tests]
        completed = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        output = completed.stdout + completed.stderr
        if not junit.exists():
            raise RuntimeError(f"pytest did not run in {root}:\n{output.strip()}")
        passed, failed, errors, skipped = _counts_from_junit(junit)
    shown = " ".join(["python", "-m", "pytest", "-q", *module.tests])
    return ModuleTestSummary(passed, failed, errors, skipped, shown, output)

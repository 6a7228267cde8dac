"""Run every benchmarks/bench_*.py script in turn (``make bench``).

    python benchmarks/run_all.py [NAME ...]     # e.g. run_all.py loss batch

Each script prints its own ratios against a baseline measured in the same
process; copy the numbers into docs/benchmarks.md together with the command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        known = {path.stem.removeprefix("bench_"): path for path in scripts}
        unknown = [name for name in names if name not in known]
        if unknown:
            print(f"unknown benchmark(s) {unknown}; known: {sorted(known)}", file=sys.stderr)
            return 2
        scripts = [known[name] for name in names]
    failures = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        failures += subprocess.run([sys.executable, str(script)], cwd=HERE.parent).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

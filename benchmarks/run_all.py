"""Run the benchmarks/bench_*.py scripts one after the other (``make bench``).

    python benchmarks/run_all.py [--full] [NAME ...]     # e.g. run_all.py loss batch

By default each script runs in its quick form (QUICK below: smaller sizes,
the speed parts only; about 15 minutes in all on 2 cores) and the scripts in
BY_NAME_ONLY are left out unless named. ``--full`` runs every script with its
own defaults, the commands docs/benchmarks.md names (about an hour and a
half, plus the training comparisons' tens of minutes when named). Each script prints
median (min-max) over interleaved rounds of ratios against a baseline
measured in the same run (benchmarks/timing.py). Never run two at once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "document_mask": ["--skip-loss"],
    "linear_cross_entropy": ["crossover"],
    "output_bias": ["--seeds"],  # no loss runs: the speed rounds only
    "prepare": ["--gigabytes", "0.2"],
    "prepare_hf": ["--gigabytes", "0.2"],
    "tokenizer": ["--repeat-text", "1"],
}
# Training runs of tens of minutes (the "Time to loss" section's scripts): run them by name.
BY_NAME_ONLY = {"vs_nanogpt", "recipe_choices"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="scripts to run, without bench_ and .py")
    parser.add_argument("--full", action="store_true", help="each script's own defaults")
    args = parser.parse_args()
    known = {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {sorted(known)}")
    names = args.names or [name for name in known if name not in BY_NAME_ONLY]
    failures = 0
    for name in names:
        extra = [] if args.full else QUICK.get(name, [])
        print(f"\n=== {known[name].name} {' '.join(extra)} ===", flush=True)
        command = [sys.executable, str(known[name]), *extra]
        failures += subprocess.run(command, cwd=HERE.parent, check=False).returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Open a course module's exercise notebook in JupyterLab.
#
#   ./noteboosh.sh 09b              first time: copy the clean notebook to notebooks/work/ and open it
#   ./noteboosh.sh 09b --fresh      archive your copy to notebooks/archive/<time>/, start clean
#   ./noteboosh.sh 09b --no-launch  set up and check everything, but do not start JupyterLab
#
# The work happens in g2c/course/noteboosh.py; this script only makes sure .venv exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The same .venv as `make test`, built by the same rule (silent when it is up to date).
make --no-print-directory -s venv
exec .venv/bin/python -m g2c.course.noteboosh "$@"

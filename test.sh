#!/usr/bin/env bash
# Set everything up (each step skipped when up to date) and run the tests. With no arguments:
# the whole suite, on two processes (pytest-xdist; TEST_WORKERS changes how many). With
# arguments: pytest's own, in one process (./test.sh tests/unit is the quick check).
set -euo pipefail
cd "$(dirname "$0")"
python=$(command -v python3.11 || command -v python3)
"$python" scripts/setup.py --for-tests
if [ $# -eq 0 ]; then
  set -- -n "${TEST_WORKERS:-2}" --dist loadgroup
fi
exec .venv/bin/python -m pytest "$@"

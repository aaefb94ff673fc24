#!/usr/bin/env bash
# Set everything up (each step skipped when up to date) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
python=$(command -v python3.11 || command -v python3)
"$python" scripts/setup.py --for-tests
exec .venv/bin/python -m pytest "$@"

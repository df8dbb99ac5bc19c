#!/usr/bin/env bash
# The newcomer's test command: set up everything the tests need, then lint, type-check and test.
#   scripts/test.sh                 # whole suite
#   scripts/test.sh tests/vision    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"

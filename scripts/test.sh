#!/usr/bin/env bash
# The newcomer's test command: set up everything the tests need (Debian packages including the
# PostgreSQL and Mosquitto servers, .venv, models), start those services, then lint, type-check
# and test.
#   scripts/test.sh                 # whole suite
#   scripts/test.sh tests/vision    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --services
scripts/services.sh
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"

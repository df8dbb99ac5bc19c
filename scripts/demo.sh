#!/usr/bin/env bash
# The newcomer's "run it" command: set up (Debian packages, .venv, model pack), then start the
# service with two local sample cameras on embedded defaults (SQLite and files under ./data).
#   scripts/demo.sh                   # console: http://127.0.0.1:8000/ (prints a guard login), API: /docs
#   scripts/demo.sh --port 9000       # extra arguments go to `estatewatch demo`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/estatewatch demo "$@"

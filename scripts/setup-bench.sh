#!/usr/bin/env bash
# Extra packages for the comparison benchmarks (not needed by the service or the tests):
#   - InsightFace 2.1, the reference `estatewatch bench faces` measures against. Installed
#     without its dependencies because it asks for opencv-python, which would clash with the
#     headless OpenCV the project uses; requests and tqdm are the ones it imports.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x .venv/bin/python ]] || scripts/setup.sh
.venv/bin/python -m pip install -q --no-deps "insightface==2.1"
.venv/bin/python -m pip install -q requests tqdm
echo "setup-bench: insightface $(.venv/bin/python -c 'import insightface; print(insightface.__version__)') ready"

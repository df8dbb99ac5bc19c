#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU (see benchmarks/README.md, "GPU"):
#   1. prints nvidia-smi,
#   2. makes a venv (.venv-gpu) with the project and onnxruntime-gpu INSTEAD of onnxruntime
#      (the two wheels share the `onnxruntime` package; README, "GPU"),
#   3. decodes the demo's 720p25 lobby clip for 20 s on the CPU, then on the GPU (decode_device
#      cuda, NVDEC through PyAV's FFmpeg): `streams probe` reports where it decoded and the CPU,
#   4. bench models --provider cuda, then tensorrt, --strict (no silent CPU figures), batches 1..64,
#   5. bench pipeline --find-capacity --quick on the best provider.
# Results (JSON + Markdown + logs) go to $OUT if set, else benchmarks/results/gpu/.
# Each step has its own time limit and a failed step does not stop the next; the exit code is the
# number of failed steps. Environment:
#   WHEELS=dir        install from a wheelhouse only (pip --no-index --find-links dir): an offline box
#   SKIP_INSTALL=1    reuse an existing .venv-gpu as it is
#   PROVIDERS="cuda tensorrt"   which providers bench models measures
#   MODELS_SECONDS=0.5          minimum timed seconds per (model, batch) measurement
# Models come from data/models (ESTATEWATCH_DATA_DIR); a box without them fetches them (PyPI).
# TensorRT builds one engine per model and input shape on first use (minutes; cached under
# data/trt-cache/), so the tensorrt step is the long one on a fresh box.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
VENV="${GPU_VENV:-.venv-gpu}"
PROVIDERS="${PROVIDERS:-cuda tensorrt}"
SECONDS_EACH="${MODELS_SECONDS:-0.5}"
failed=0
step() {  # step NAME LIMIT_S COMMAND...: run with a limit, log to $OUT/NAME.log, count failures
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit}s): $*"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
    (( rc == 0 )) || failed=$((failed + 1))
    return "$rc"
}

if command -v nvidia-smi >/dev/null; then
    nvidia-smi | tee "$OUT/nvidia-smi.txt"
else
    echo "gpu_check: nvidia-smi not found: no NVIDIA driver here" | tee "$OUT/nvidia-smi.txt"
fi

pip_args=()
[[ -n "${WHEELS:-}" ]] && pip_args=(--no-index --find-links "$WHEELS")
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
    PY="${PYTHON:-python3.11}"
    command -v "$PY" >/dev/null || PY=python3
    [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
    install() {
        "$VENV/bin/pip" install -q "${pip_args[@]}" -e ".[bench]" &&
        "$VENV/bin/pip" uninstall -y -q onnxruntime onnxruntime-gpu &&
        "$VENV/bin/pip" install -q "${pip_args[@]}" 'onnxruntime-gpu[cuda,cudnn]>=1.20,<2' &&
        { [[ " $PROVIDERS " != *" tensorrt "* ]] ||
          "$VENV/bin/pip" install -q "${pip_args[@]}" 'tensorrt-cu12>=10,<11' ||
          echo "gpu_check: TensorRT wheels not installed: the tensorrt step will fail"; }
    }
    step install 420 install || { echo "gpu_check: install failed, see $OUT/install.log"; exit 99; }
fi
# the pip TensorRT libraries are found through LD_LIBRARY_PATH
trt_libs=$("$VENV/bin/python" -c 'import tensorrt_libs, os; print(os.path.dirname(tensorrt_libs.__file__))' \
           2>/dev/null || true)
[[ -n "$trt_libs" ]] && export LD_LIBRARY_PATH="$trt_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

"$VENV/bin/python" - <<'PY' | tee "$OUT/onnxruntime.txt"
import onnxruntime as ort
print("onnxruntime", ort.__version__, "device", ort.get_device())
print("available providers:", ort.get_available_providers())
PY
[[ -f data/models/yolo11n.onnx ]] || step fetch 300 "$VENV/bin/estatewatch" models fetch

clip=$("$VENV/bin/python" -c 'from media.clips import demo_folder, lobby_clip; print(lobby_clip(demo_folder()))')
for device in cpu cuda; do  # "decoder": "cuda" in decode-cuda.log, or the reason it fell back
    step "decode-$device" 120 "$VENV/bin/estatewatch" streams probe "$clip" --seconds 20 \
        --decode-device "$device" --json
done

best=cpu
for provider in $PROVIDERS; do
    if step "models-$provider" 420 "$VENV/bin/estatewatch" bench models --provider "$provider" --strict \
            --batches 1,2,4,8,16,32,64 --seconds "$SECONDS_EACH" --out "$OUT/models-$provider"; then
        [[ $best == cpu || $provider == cuda ]] && best=$provider  # CUDA for capacity: no engine builds
    fi
done
step capacity 420 "$VENV/bin/estatewatch" bench pipeline --find-capacity --quick --provider "$best" \
    --out "$OUT/capacity-$best"
echo "gpu_check: $failed step(s) failed; results in $OUT"
exit "$failed"

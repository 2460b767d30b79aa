#!/usr/bin/env bash
# The GPU check, in one call on a CUDA machine (under 10 minutes):
#   1. the CUDA-marked tests (tests/test_cuda.py: cuDNN layerwise = wavefront in float32, float64
#      equality of the orders, the probe on CUDA = the CPU's, interrupt + resume, gradcheck);
#   2. bench.py --device cuda (both shapes, quiet; JSON and markdown);
#   3. one paper-scale training run (configs/addition_paper_grid.yaml) for a fixed wall time.
# Everything goes under one folder: OUT (default outputs/gpu-check-<UTC stamp>), with a log per step
# and status.txt giving each step's exit code.
#
#   benchmarks/gpu_check.sh [OUT]          PYTHON=.venv/bin/python TRAIN_SECONDS=180 by default
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TRAIN_SECONDS=${TRAIN_SECONDS:-180}
OUT=${1:-outputs/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device visible to $PYTHON (torch.cuda.is_available() is false)" >&2
    exit 2
fi
"$PYTHON" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())" > "$OUT/device.txt"
: > "$OUT/status.txt"
step() {  # name, timeout seconds, command...
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    timeout --signal=INT --kill-after=20 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc, $((SECONDS - t0)) s" | tee -a "$OUT/status.txt"
}
step tests 180 "$PYTHON" -m pytest -q -m cuda -rs tests/test_cuda.py --junitxml "$OUT/tests.xml"
step bench 240 "$PYTHON" benchmarks/bench.py --device cuda --repeats 5 --out "$OUT/bench.md" --json "$OUT/bench.json"
# a fixed wall time: the run is stopped by SIGINT (timeout), which checkpoints it and exits 130
step train $((TRAIN_SECONDS + 20)) timeout --signal=INT "$TRAIN_SECONDS" \
    "$PYTHON" -m gridlstm.cli.launch train configs/addition_paper_grid.yaml --device cuda --out "$OUT/train"
echo "gpu_check: wrote $OUT (status.txt: each step's exit code; train exits 130 when its time is up)"

#!/usr/bin/env bash
# GPU check (docs/gpu-check.md): correctness of the PyTorch S6 scans and S4D on the GPU against CPU
# float64, forward+backward timings at paper shapes, training throughput per model. One markdown table,
# printed and written to OUT.md, in under 8 minutes on one H100/H200.
#
#   bash benchmarks/gpu_check.sh OUT.md              # on a CUDA machine
#   bash benchmarks/gpu_check.sh OUT.md --dry-run    # every row on CPU at tiny shapes
#
# Needs a python3 with torch; the rest of contlaws' imports (jsonschema and its three dependencies) and
# the optional flash-linear-attention can come as wheel files in wheels/ (no internet needed): they are
# installed into a temporary folder, never into that python's environment.
set -euo pipefail
if [[ $# -lt 1 || $1 == -* ]]; then
    echo "usage: bash benchmarks/gpu_check.sh OUT.md [--dry-run | --tiny | --budget-s S]" >&2
    exit 2
fi
out=$(realpath -m "$1")  # before the cd below: OUT.md is relative to where it was called from
shift
mkdir -p "$(dirname "$out")"
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
pythonpath=$PWD/src
if compgen -G "wheels/*.whl" >/dev/null; then
    site=$(mktemp -d)
    trap 'rm -rf "$site"' EXIT
    "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" wheels/*.whl
    pythonpath=$pythonpath:$site
fi
export PYTHONPATH=$pythonpath${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ! "$python" -c "import jsonschema, yaml" 2>/dev/null; then
    echo "gpu_check: $python cannot import jsonschema or yaml; carry their wheels in wheels/ (docs/gpu-check.md)" >&2
    exit 2
fi
# 470 s: the script skips rows after --budget-s (420 s); this stops a row that hangs. The table
# file holds every row finished before a stop.
status=0
timeout -k 10 470 "$python" benchmarks/gpu_check.py --out "$out" "$@" || status=$?
exit "$status"

#!/usr/bin/env bash
# The paper profile on one GPU, in one command of a short device slot.
#
#   bash scripts/gpu_paper.sh [gpu_paper.py options]        # e.g. --precision mixed_bfloat16
#
# What it does, in order (details in scripts/gpu_paper.py):
#   1. installs the carried wheels in wheels/ (scripts/gpu_wheels.sh downloads
#      them on a machine with the package registries) unless GPU_PAPER_NO_INSTALL=1;
#   2. finds CIFAR-10: ACTBOOK_CIFAR10, else shared/data/ or ../shared/data/;
#   3. runs under JAX (KERAS_BACKEND=jax) with deterministic XLA ops (the runner
#      sets them) and GPU memory allocated on demand, so two cells can share the GPU;
#   4. measures one epoch, plans, trains what fits and stops itself
#      LIMIT_S seconds after it started (default 540: a 600 s command with
#      time to bring the results back), leaving everything under $OUT.
#
# The CPU dry run (tests/test_gpu_script.py, in CI's JAX leg) runs this very
# script with tiny overrides: GPU_PAPER_NO_INSTALL=1 bash scripts/gpu_paper.sh
#   --set epochs=1 --set train_size=100 --set test_size=50 --arms relu,rrelu --seeds 0
set -euo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
OUT="${OUT:-$PWD/gpu_out}"
LIMIT_S="${LIMIT_S:-540}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"

if [ -z "${GPU_PAPER_NO_INSTALL:-}" ]; then
    if [ ! -d wheels ]; then
        echo "gpu_paper.sh: no wheels/ folder; run scripts/gpu_wheels.sh where pip can reach the registries" >&2
        exit 2
    fi
    "$PYTHON" -m pip install --quiet --no-index --find-links wheels -r scripts/gpu_requirements.txt
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if [ -z "${ACTBOOK_CIFAR10:-}" ]; then
    for candidate in shared/data/cifar10-jpeg.tar.gz ../shared/data/cifar10-jpeg.tar.gz; do
        if [ -f "$candidate" ]; then ACTBOOK_CIFAR10="$(cd "$(dirname "$candidate")" && pwd)/$(basename "$candidate")"; break; fi
    done
fi
export ACTBOOK_CIFAR10="${ACTBOOK_CIFAR10:?no CIFAR-10: set ACTBOOK_CIFAR10}"
export ACTBOOK_CACHE="${ACTBOOK_CACHE:-/tmp/actbook-cache}"   # decoded arrays: not in $OUT, which comes back
export KERAS_BACKEND=jax
export XLA_PYTHON_CLIENT_PREALLOCATE=false

"$PYTHON" -c "import jax; print('gpu_paper.sh: JAX', jax.__version__, jax.devices())"
ELAPSED=$(( $(date +%s) - START ))
exec "$PYTHON" scripts/gpu_paper.py --out "$OUT" --deadline-s $(( LIMIT_S - ELAPSED )) "$@"

#!/usr/bin/env bash
# Download, on a machine with the package registries, the wheels the GPU
# machine needs (scripts/gpu_requirements.txt with their dependencies) for
# its Python 3.12 on manylinux x86-64, into wheels/ (ignored by git, carried
# to the device with the working tree: `run` with carry=["wheels"]).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d wheels -r scripts/gpu_requirements.txt
rm -f wheels/numpy-*.whl   # the GPU machine has NumPy; the carried tree must stay under 64 MiB
du -sh wheels

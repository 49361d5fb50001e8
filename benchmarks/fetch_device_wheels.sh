#!/usr/bin/env bash
# Download, here (where pip can reach the package index), the wheels that the lent GPU machines lack:
# soundfile and soxr (with cffi and pycparser) for their Python 3.12. They go to .whl/ (kept out of git);
# name .whl in the device call's `carry` and benchmarks/gpu_session.sh installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
    soundfile==0.14.0 soxr==1.1.0 cffi==2.1.1 pycparser==3.12
ls -1 .whl

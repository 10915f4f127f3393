#!/usr/bin/env bash
# Create .venv and install tandem into it. The first run compiles llama.cpp
# (llama-cpp-python has no prebuilt wheel here: ~7 minutes on 2 cores); pip
# caches the wheel, so later runs take seconds. The install also compiles the
# privacy scanner with mypyc (setup.py, ~40 s); it is redone only when
# pyproject.toml, setup.py or the scanner's sources change (a stamp in .venv;
# rm .venv/.tandem-setup* forces a reinstall).
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
state=$(cat pyproject.toml setup.py src/tandem/privacy/*.py | sha256sum | cut -c1-16)
stamp=.venv/.tandem-setup${1:+-$1}
done_before=("$stamp")
if [ -z "${1:-}" ]; then
    done_before+=(.venv/.tandem-setup*)  # an install with extras includes the plain one
fi
for done in "${done_before[@]}"; do
    if [ -f "$done" ] && [ "$(cat "$done")" = "$state" ]; then
        exit 0
    fi
done
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAVA_BUILD=OFF -DGGML_NATIVE=ON"}
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${1:+[$1]}"
echo "$state" > "$stamp"

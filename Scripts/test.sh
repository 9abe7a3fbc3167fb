#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), runs the Python tests of Scripts/, then the whole
# Swift test suite in release mode (C kernels are built at -O0 in debug, and the reference tests
# run real networks).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m unittest discover -s Scripts/tests
exec swift test -c release "$@"

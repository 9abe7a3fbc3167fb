#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), runs the Python tests of Scripts/, then the whole
# Swift test suite in release mode (C kernels are built at -O0 in debug, and the reference tests
# run real networks).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m unittest discover -s Scripts/tests
# Pillow fixtures for the image tests (idempotent; ../shared/data holds the real images)
.venv/bin/python Scripts/make_image_fixtures.py --data ../shared/data --darknet .cache/darknet/data --out .cache/fixtures
# ONNX Runtime reference outputs for the backbone parity tests (idempotent)
.venv/bin/python Scripts/onnx_reference.py fixtures --models .cache/models --darknet .cache/darknet/data --out .cache/fixtures/models
swift test -c release "$@"
# the loupe command line: a small index + search, and bad inputs refused with a message
# (one build of every product: loupe and the Examples/)
swift build -c release
.venv/bin/python Scripts/check_cli.py .build/release/loupe ../shared/data
# the library as programs link it: the README's program and the other Examples/ on real images,
# every mode's embedder rebuilt from its index in a new process, a copied binary with XDG_CACHE_HOME
.venv/bin/python Scripts/check_library.py .build/release ../shared/data
# the analysis grid (Benchmarks/ loupe-analysis) end to end on a few real images
swift build -c release --package-path Benchmarks --product loupe-analysis
.venv/bin/python Scripts/check_analysis.py Benchmarks/.build/release/loupe-analysis ../shared/data
# every fuzz target for a few seconds (a fixed seed) over its seeds and kept regression inputs, so
# that a parser change that crashes, leaks or trips a sanitizer fails here; the long runs are
# `Scripts/fuzz.sh TARGET SECONDS`, not part of the tests
Scripts/fuzz.sh all 5 -seed=1

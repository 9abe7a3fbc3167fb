#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), then runs Loupe's main job on its built-in default.
# Until the networks land, the main job is the kernel benchmark: every convolution shape of
# ResNet-50 and MobileNetV2 at 224x224, next to sgemm alone and to grouped im2col + GEMM.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build -c release --package-path Benchmarks --product loupe-kernel-bench >&2
exec Benchmarks/.build/release/loupe-kernel-bench --sizes 224 "$@"

#!/usr/bin/env bash
# The analysis grid of Documentation/Results.md: MobileNetV2, EfficientNet-Lite0/2 and YOLOX-Nano
# (as a detection backbone) × their layer sweeps × MAC/SPoC/GeM/R-MAC × whitening none/64/128/256/
# 512/full × global/objects/teacher, plus the distilled student of Scripts/results_student.sh,
# on smvs-dvd and flowers17-dev (whitening learned on the other set + coil100-20deg).
# Writes Documentation/Results/{analysis.csv,analysis.md,whitening.png,layers.png,modes.png}.
# Embeddings are cached in .cache/analysis: a rerun only scores.
#   Scripts/results_analysis.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
OUT=${2:-Documentation/Results}
HEAD=.cache/results/student/head_mobilenet_v2_crop_aug2.safetensors
HEAD_BB=.cache/results/student/head_mobilenet_v2_crop_backbone_aug2.safetensors
HEAD_BEST=.cache/results/student/head_bb_ref24m_centered.safetensors
[ -f "$HEAD" ] && [ -f "$HEAD_BB" ] && [ -f "$HEAD_BEST" ] || Scripts/results_student.sh "$DATA" >/dev/null
swift build -c release --package-path Benchmarks --product loupe-analysis >&2
set -x
Benchmarks/.build/release/loupe-analysis --student "$HEAD" --student "$HEAD_BB" --student "$HEAD_BEST" --output "$OUT" \
  --dataset "smvs:$DATA/smvs-dvd" --dataset "labels:$DATA/flowers17-dev" --whitening-data "labels:$DATA/coil100-20deg"

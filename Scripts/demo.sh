#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), then runs Loupe's main job on its built-in default:
# until the retrieval commands land, ImageNet classification of the darknet sample images with
# MobileNetV2 and EfficientNet-Lite0 on real weights. Extra arguments go to `loupe classify`.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build -c release --product loupe >&2
samples=(.cache/darknet/data/{dog,eagle,giraffe,horses,kite,person}.jpg)
for model in mobilenet_v2 efficientnet_lite0; do
    .build/release/loupe classify --model "$model" --top 3 "${samples[@]}" "$@"
done

#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), then runs Loupe's main job on its built-in default:
# spliced-image search. An object cut from one sample photo is pasted into another; a gallery of
# 22 photos is indexed with object embeddings (YOLOX-Nano boxes as hard attention over
# MobileNetV2's feature map); each splice is searched in global mode and in object mode, and a
# table plus a montage PNG (spliced-demo/montage.png) show which sources each mode finds.
# Arguments: [OUT_DIR] (default spliced-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build -c release --product spliced-search >&2
detector=../shared/models/yolox_nano_coco.safetensors
[ -f "$detector" ] || detector=.cache/models/yolox_nano_coco.safetensors
.build/release/spliced-search .cache/darknet/data .cache/samples/skimage .cache/models/mobilenet_v2.safetensors "$detector" "${1:-spliced-demo}"

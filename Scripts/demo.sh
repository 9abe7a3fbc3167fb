#!/usr/bin/env bash
# Sets up what is missing (Scripts/setup.sh), then runs Loupe's main job on its built-in default:
# spliced-image search. An object cut from one sample photo is pasted into another; a gallery of
# 22 photos is indexed with object embeddings (YOLOX-Nano boxes as hard attention over
# MobileNetV2's feature map); each splice is searched in global mode and in object mode, and a
# table plus a montage PNG (spliced-demo/montage.png) show which sources each mode finds; then
# `loupe sources` answers the same splices from the command line (roles, scores, the pasted part
# located by comparing each splice with its host; spliced-demo/sources.png).
# Arguments: [OUT_DIR] (default spliced-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh
swift build -c release --product spliced-search >&2
detector=../shared/models/yolox_nano_coco.safetensors
[ -f "$detector" ] || detector=.cache/models/yolox_nano_coco.safetensors
out="${1:-spliced-demo}"
.build/release/spliced-search .cache/darknet/data .cache/samples/skimage .cache/models/mobilenet_v2.safetensors "$detector" "$out"

# the same job from the command line: loupe sources names host and donors and locates the pasted part
swift build -c release --product loupe >&2
mkdir -p "$out/gallery"
for photo in .cache/darknet/data/*.jpg .cache/samples/skimage/*; do ln -sf "$PWD/$photo" "$out/gallery/"; done
.build/release/loupe index "$out/gallery" -o "$out/gallery.objects" --objects --max-size 1024 --max-objects 10 --local-features --quiet
echo
.build/release/loupe sources "$out/gallery.objects" "$out"/*-in-*.png -k 3 --montage "$out/sources.png"

#!/usr/bin/env bash
# Makes the README's pictures again (Documentation/Images): a global search montage on smvs-dvd,
# an object search montage on splices of the sample photos, loupe sources on three of them, and
# detect --draw on dog.jpg.
# Needs Scripts/setup.sh's cache and ../shared (data and YOLOX-Nano weights).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product loupe >&2
swift build -c release --product spliced-search >&2
L=.build/release/loupe
out=Documentation/Images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

$L index ../shared/data/smvs-dvd/reference -o "$work/dvd.index" --max-size 512 --quiet
$L search "$work/dvd.index" ../shared/data/smvs-dvd/queries/canon/002.jpg \
    -k 4 --montage "$out/search-montage.png" > /dev/null

# the demo's splices (an object of one sample photo pasted into another) against the photos
detector=../shared/models/yolox_nano_coco.safetensors
.build/release/spliced-search .cache/darknet/data .cache/samples/skimage .cache/models/mobilenet_v2.safetensors "$detector" "$work/splices" > /dev/null
mkdir -p "$work/photos"
cp .cache/darknet/data/*.jpg .cache/samples/skimage/* "$work/photos/"
$L index "$work/photos" -o "$work/photos.objects" --objects --max-size 1024 --max-objects 10 --local-features --quiet
$L search "$work/photos.objects" "$work/splices/dog-in-giraffe.png" "$work/splices/bird-in-horses.png" \
    -k 3 --montage "$out/object-montage.png" > /dev/null
$L sources "$work/photos.objects" "$work/splices/dog-in-giraffe.png" "$work/splices/bird-in-horses.png" "$work/splices/person-in-scream.png" \
    -k 3 --montage "$out/sources-montage.png" > /dev/null

$L detect .cache/darknet/data/dog.jpg --draw "$out/detect-boxes.png" > /dev/null
ls -l "$out"

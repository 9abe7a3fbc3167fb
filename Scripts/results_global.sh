#!/usr/bin/env bash
# The global-embedding results table of the README: MobileNetV2 and EfficientNet-Lite0 x
# {MAC, SPoC, GeM, R-MAC} x {no whitening, PCA whitening learned on flowers17-dev + coil100-20deg},
# on smvs-dvd (canon, droid, overall) and flowers17-dev (leave-one-out), at the reference
# settings (longer side 512). Every number comes from `loupe eval`; the commands are printed.
#   Scripts/results_global.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
OUT=${2:-.cache/results/global}
mkdir -p "$OUT"
swift build -c release --product loupe >&2
L=.build/release/loupe
run() { echo "+ $*" >&2; "$@"; }
for model in mobilenet_v2 efficientnet_lite0; do
  for pooling in mac spoc gem rmac; do
    w="$OUT/whiten_${model}_${pooling}.safetensors"
    [ -f "$w" ] || run $L whiten fit "$DATA/flowers17-dev" "$DATA/coil100-20deg" -o "$w" --model $model --pooling $pooling --max-size 512 --quiet
    for white in none pcaw; do
      extra=(); [ $white = pcaw ] && extra=(--whitening "$w")
      f="$OUT/${model}_${pooling}_${white}_smvs.json"
      [ -f "$f" ] || run $L eval smvs "$DATA/smvs-dvd" --model $model --pooling $pooling --max-size 512 "${extra[@]}" --json > "$f"
      f="$OUT/${model}_${pooling}_${white}_flowers.json"
      [ -f "$f" ] || run $L eval labels "$DATA/flowers17-dev" --model $model --pooling $pooling --max-size 512 "${extra[@]}" --json > "$f"
    done
  done
done
.venv/bin/python - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| backbone | pooling | whitening | smvs canon mAP | canon mAP (trap.) | smvs droid mAP | droid mAP (trap.) | smvs overall mAP | canon R@1 | flowers17-dev R@1 | flowers17-dev mAP |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for model in ("mobilenet_v2", "efficientnet_lite0"):
    for pooling in ("mac", "spoc", "gem", "rmac"):
        for white in ("none", "pcaw"):
            s = json.load(open(os.path.join(out, f"{model}_{pooling}_{white}_smvs.json")))
            f = json.load(open(os.path.join(out, f"{model}_{pooling}_{white}_flowers.json")))
            c, d, o = s["groups"]["canon"], s["groups"]["droid"], s["overall"]
            print(f"| {model} | {pooling} | {'PCA-w' if white == 'pcaw' else 'none'} | {c['meanAP']:.3f} | {c['meanTrapezoidAP']:.3f} | "
                  f"{d['meanAP']:.3f} | {d['meanTrapezoidAP']:.3f} | {o['meanAP']:.3f} | {c['recall']['1']:.3f} | "
                  f"{f['overall']['recall']['1']:.3f} | {f['overall']['meanAP']:.3f} |")
PY

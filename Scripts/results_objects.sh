#!/usr/bin/env bash
# The object-embedding results table of the README: MobileNetV2 and EfficientNet-Lite0, GeM, at
# the reference settings (longer side 512), PCA whitening learned on flowers17-dev + coil100-20deg
# global vectors (and, for MobileNetV2, without whitening too: the rows REFERENCE.md checks),
# three modes: global; objects by hard attention (YOLOX-Nano top-5 class-agnostic boxes,
# RoIAlign 7x7 on the backbone's map, one pass); objects by the crop teacher (each box cropped and
# embedded at 512). Object rows: the query's objects against every database region by the best
# pair (Loupe's defaults). smvs-dvd canon/droid mAP and flowers17-dev leave-one-out R@1.
# Every number comes from `loupe eval`; the commands are printed. About 25 minutes on 2 cores.
#   Scripts/results_objects.sh [DATA_DIR] [OUT_DIR]      (MODELS="mobilenet_v2" for one backbone's rows)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
OUT=${2:-.cache/results/objects}
mkdir -p "$OUT"
swift build -c release --product loupe >&2
L=.build/release/loupe
run() { echo "+ $*" >&2; "$@"; }
for model in ${MODELS:-mobilenet_v2 efficientnet_lite0}; do
  w="$OUT/whiten_${model}_gem.safetensors"
  [ -f "$w" ] || run $L whiten fit "$DATA/flowers17-dev" "$DATA/coil100-20deg" -o "$w" --model $model --max-size 512 --quiet
  whites=(pcaw); [ $model = mobilenet_v2 ] && whites=(none pcaw)
  for white in "${whites[@]}"; do
    extra=(); [ $white = pcaw ] && extra=(--whitening "$w")
    for mode in global roialign teacher; do
      modeargs=(); [ $mode != global ] && modeargs=(--objects --object-method $mode)
      for set in smvs flowers; do
        f="$OUT/${model}_${white}_${mode}_${set}.json"
        if [ $set = smvs ]; then args=(smvs "$DATA/smvs-dvd"); else args=(labels "$DATA/flowers17-dev"); fi
        if [ ! -f "$f" ]; then
          run $L eval "${args[@]}" --model $model --max-size 512 "${extra[@]}" "${modeargs[@]}" --json --quiet > "$f.tmp"
          mv "$f.tmp" "$f"
        fi
      done
    done
  done
done
.venv/bin/python - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
names = {"global": "global", "roialign": "objects: detector boxes (RoIAlign, 1 pass)", "teacher": "objects: crop teacher"}
print("| backbone | whitening | embedding | smvs canon mAP | smvs droid mAP | smvs overall mAP | flowers17-dev R@1 | flowers17-dev mAP |")
print("|---|---|---|---|---|---|---|---|")
for model in ("mobilenet_v2", "efficientnet_lite0"):
    for white in ("none", "pcaw"):
        for mode in ("global", "roialign", "teacher"):
            p = os.path.join(out, f"{model}_{white}_{mode}_smvs.json")
            if not os.path.exists(p):
                continue
            s = json.load(open(p))
            f = json.load(open(os.path.join(out, f"{model}_{white}_{mode}_flowers.json")))
            c, d, o = s["groups"]["canon"], s["groups"]["droid"], s["overall"]
            print(f"| {model} | {'PCA-w' if white == 'pcaw' else 'none'} | {names[mode]} | {c['meanAP']:.3f} | {d['meanAP']:.3f} | "
                  f"{o['meanAP']:.3f} | {f['overall']['recall']['1']:.3f} | {f['overall']['meanAP']:.3f} |")
PY

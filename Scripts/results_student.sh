#!/usr/bin/env bash
# The distillation table of the README: a student head trained on images that are not evaluation
# queries — half of flowers17-dev (part 0/2 in path order), coil100-20deg and the smvs-dvd
# references — against its crop teacher (MobileNetV2, GeM, 512 px, YOLOX-Nano top-5 boxes) and
# the global embedding: smvs-dvd query mAP and Recall@1 on the other half of flowers17-dev
# (part 1/2, leave-one-out inside it). Object rows: the query's objects against every database
# region, best pair. Every number comes from `loupe distill` / `loupe eval`; the commands are printed.
#   Scripts/results_student.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
OUT=${2:-.cache/results/student}
mkdir -p "$OUT"
swift build -c release --product loupe >&2
L=.build/release/loupe
run() { echo "+ $*" >&2; "$@"; }
# train NAME [distill options]: one head per row, skipped when its file exists
train() {
  local name=$1; shift
  if [ ! -f "$OUT/head_$name.safetensors" ]; then
    run $L distill "$DATA/flowers17-dev/images@0/2" "$DATA/coil100-20deg" "$DATA/smvs-dvd/reference" \
      --teacher mobilenet_v2 --max-size 512 "$@" -o "$OUT/head_$name.safetensors" --json --quiet > "$OUT/history_$name.json"
  fi
}
train mobilenet_v2_crop
# the same pairs plus two spliced views per image (only the detector runs again)
train mobilenet_v2_crop_aug2 --augment 2 --epochs 25
# the same, reading YOLOX's CSPDarknet levels instead of the head stems (the detector maps that
# retrieve best in the analysis grid)
train mobilenet_v2_crop_backbone_aug2 --features backbone-all --augment 2 --epochs 25
# four photographed views per image (seen at an angle, some blurred) instead of two upright
# splices: what a phone photo of a DVD cover asks the student to see through
train bb_photo4 --features backbone-all --augment 4 --augment-style photo --epochs 25
# 24 photographed views of each smvs-dvd reference (the collection that will be searched), none of
# the other images; then the same with the centred cosine loss
train bb_ref24 --features backbone-all --augment-style photo --views "$DATA/smvs-dvd/reference=24" --epochs 20
train bb_ref24_centered --features backbone-all --augment-style photo --views "$DATA/smvs-dvd/reference=24" --epochs 20 --loss centered
# ... and with the detector's own boxes on each view paired too (the boxes it proposes at search time)
train bb_ref24m_centered --features backbone-all --augment-style photo --views "$DATA/smvs-dvd/reference=24" --match-detections \
  --epochs 20 --loss centered
evaluate() {  # name, then eval arguments
  local f="$OUT/$1.json"; shift
  if [ ! -f "$f" ]; then run $L eval "$@" --json --quiet > "$f.tmp"; mv "$f.tmp" "$f"; fi
}
for set in smvs flowers; do
  if [ $set = smvs ]; then args=(smvs "$DATA/smvs-dvd"); else args=(labels "$DATA/flowers17-dev" --part 1/2); fi
  evaluate "global_$set" "${args[@]}" --max-size 512
  evaluate "attention_$set" "${args[@]}" --max-size 512 --objects
  evaluate "teacher_$set" "${args[@]}" --max-size 512 --objects --object-method teacher
  evaluate "student_$set" "${args[@]}" --objects --student "$OUT/head_mobilenet_v2_crop.safetensors"
  evaluate "student_aug2_$set" "${args[@]}" --objects --student "$OUT/head_mobilenet_v2_crop_aug2.safetensors"
  evaluate "student_backbone_$set" "${args[@]}" --objects --student "$OUT/head_mobilenet_v2_crop_backbone_aug2.safetensors"
  for name in bb_photo4 bb_ref24 bb_ref24_centered bb_ref24m_centered; do
    evaluate "student_${name}_$set" "${args[@]}" --objects --student "$OUT/head_$name.safetensors"
  done
done
.venv/bin/python - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda n: json.load(open(os.path.join(out, n + ".json")))
names = {"global": "global (1 classifier pass)", "attention": "objects: hard attention (detector + 1 classifier pass)",
         "teacher": "objects: crop teacher (detector + 1 + K classifier passes)", "student": "objects: student (detector + head only)",
         "student_aug2": "objects: student trained with spliced views (`--augment 2`)",
         "student_backbone": "objects: student on YOLOX's backbone levels (`--features backbone-all --augment 2`)",
         "student_bb_photo4": "objects: the same with four photographed views (`--augment 4 --augment-style photo`)",
         "student_bb_ref24": "objects: 24 photographed views of each smvs reference instead (`--views REF=24`)",
         "student_bb_ref24_centered": "objects: the same, centred cosine loss (`--loss centered`)",
         "student_bb_ref24m_centered": "objects: the same, the detector's own boxes on the views paired too (`--match-detections`)"}
t_s, t_f = load("teacher_smvs"), load("teacher_flowers")
print("| embedding | smvs canon mAP | smvs droid mAP | smvs overall mAP | % of teacher | flowers17-dev part 1/2 R@1 | % of teacher |")
print("|---|---|---|---|---|---|---|")
for mode in ("global", "attention", "teacher", "student", "student_aug2", "student_backbone", "student_bb_photo4",
             "student_bb_ref24", "student_bb_ref24_centered", "student_bb_ref24m_centered"):
    s, f = load(f"{mode}_smvs"), load(f"{mode}_flowers")
    print(f"| {names[mode]} | {s['groups']['canon']['meanAP']:.3f} | {s['groups']['droid']['meanAP']:.3f} | {s['overall']['meanAP']:.3f} | "
          f"{100 * s['overall']['meanAP'] / t_s['overall']['meanAP']:.0f} % | {f['overall']['recall']['1']:.3f} | "
          f"{100 * f['overall']['recall']['1'] / t_f['overall']['recall']['1']:.0f} % |")
PY

#!/usr/bin/env bash
# Loupe next to the reference runtimes, in one run on this machine, as ratios:
#   - every backbone of the analysis grid and YOLOX-Nano vs ONNX Runtime on the same graph and
#     weights (Benchmarks/models_vs_ort.py: ImageNet size 224×224 and the grid's 512×384; YOLOX at
#     its export's 416×416), ratio = Loupe ms / ONNX Runtime ms (lower is better);
#   - Loupe's exact flat search vs faiss IndexFlatIP on 100,000 × 1280 vectors, 1,000 queries,
#     k = 100 (Benchmarks/search_vs_faiss.py), ratio = Loupe speed / faiss speed (higher is better).
#   Benchmarks/side_by_side.sh [THREADS, default 2] [RUNS, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/setup.sh >/dev/null
THREADS=${1:-2}
RUNS=${2:-10}
echo "## Networks: Loupe vs ONNX Runtime ($THREADS threads, medians of alternating runs)"
.venv/bin/python Benchmarks/models_vs_ort.py --models mobilenet_v2,efficientnet_lite0,efficientnet_lite2,yolox_nano \
  --sizes 224x224,512x384 --threads "$THREADS" --runs "$RUNS"
echo
echo "## Exact search: Loupe vs faiss"
.venv/bin/python Benchmarks/search_vs_faiss.py --threads "$THREADS"

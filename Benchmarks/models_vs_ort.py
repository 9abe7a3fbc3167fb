#!/usr/bin/env python3
"""Loupe vs ONNX Runtime on the same networks, weights, input size and thread count, in one run.

For each model and size, the ONNX graph is built from the same safetensors
(Scripts/onnx_reference.py; ONNX Runtime applies its full graph optimisations, BatchNorm folding
and fusions included), then ONNX Runtime and `loupe-model-bench` run alternately (R runs each, --rounds rounds); the
table reports medians, the ratio Loupe / ONNX Runtime as the median of the rounds' paired ratios
(lower is better) and their range.

  .venv/bin/python Benchmarks/models_vs_ort.py [--models mobilenet_v2,efficientnet_lite0,resnet50]
      [--sizes 224x224,1024x768] [--threads 1,2] [--runs 10] [--rounds 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Scripts"))
import onnx_reference  # noqa: E402


YOLOX_ONNX = os.path.join(ROOT, "..", "shared", "models", "yolox_nano.onnx")
YOLOX_WEIGHTS = os.path.join(ROOT, "..", "shared", "models", "yolox_nano_coco.safetensors")


def weights_for(model):
    if model == "yolox_nano":
        return YOLOX_WEIGHTS
    if model == "resnet50":
        path = os.path.join(ROOT, ".cache", "fixtures", "models", "resnet50_random.safetensors")
        if not os.path.exists(path):
            from safetensors.numpy import save_file
            os.makedirs(os.path.dirname(path), exist_ok=True)
            save_file(onnx_reference.random_resnet50(), path)
        return path
    return os.path.join(ROOT, ".cache", "models", f"{model}.safetensors")


def ort_times(model_path, height, width, threads, runs):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
    feed = {session.get_inputs()[0].name: x}
    for _ in range(2):
        session.run(None, feed)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, feed)
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def loupe_times(binary, model, weights, height, width, threads, runs):
    out = subprocess.run([binary, "--model", model, "--weights", weights, "--height", str(height), "--width", str(width),
                          "--threads", str(threads), "--runs", str(runs)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["median_ms"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="mobilenet_v2,efficientnet_lite0,resnet50,yolox_nano")
    parser.add_argument("--sizes", default="224x224,1024x768")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds; the ratio is the median of the rounds' paired ratios")
    args = parser.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "Benchmarks"),
                    "--product", "loupe-model-bench"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "loupe-model-bench")
    print("| model | input | threads | Loupe ms | ONNX Runtime ms | ratio | rounds' ratios |")
    print("|---|---|---|---|---|---|---|")
    from safetensors.numpy import load_file
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            weights = weights_for(model)
            state = None if model == "yolox_nano" else load_file(weights)
            sizes = ["416x416"] if model == "yolox_nano" else args.sizes.split(",")
            for size in sizes:
                w, h = (int(v) for v in size.split("x"))
                path = os.path.join(tmp, f"{model}_{h}x{w}.onnx")
                if model == "yolox_nano":
                    path = YOLOX_ONNX  # the original export, run as is
                else:
                    onnx.save(onnx_reference.build(model, state, h, w), path)
                runs = args.runs if w * h <= 300_000 else max(3, args.runs // 3)
                for threads in (int(t) for t in args.threads.split(",")):
                    # alternating rounds, each a median of `runs` forward passes; this shared machine
                    # drifts by ±15 % over seconds, so each round's ratio pairs two neighbouring medians
                    ours, theirs = [], []
                    for _ in range(args.rounds):
                        theirs.append(statistics.median(ort_times(path, h, w, threads, runs)))
                        ours.append(loupe_times(binary, model, weights, h, w, threads, runs))
                    ratios = sorted(a / b for a, b in zip(ours, theirs))
                    a, b = statistics.median(ours), statistics.median(theirs)
                    print(f"| {model} | {w}×{h} | {threads} | {a:.1f} | {b:.1f} | {statistics.median(ratios):.2f} | "
                          f"{ratios[0]:.2f}–{ratios[-1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()

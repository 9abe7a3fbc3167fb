#!/usr/bin/env python3
"""Loupe vs Pillow on the same work: decode every JPEG/PNG in the folders and resize it so its
longer side is N with antialiased bilinear (Pillow BILINEAR). Alternates Loupe and Pillow runs,
reports medians and ratios. File reading is excluded on both sides (bytes are in memory).

  .venv/bin/python Benchmarks/image_vs_pil.py [--longer-side 512] [--runs 5] [DIR ...]
"""
import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pil_run(blobs, side):
    decode = resize = mp = 0.0
    for data in blobs:
        t0 = time.perf_counter()
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
        t1 = time.perf_counter()
        w, h = im.size
        s = side / max(w, h)
        size = (side, max(1, round(h * s))) if w >= h else (max(1, round(w * s)), side)
        im.resize(size, Image.BILINEAR)
        t2 = time.perf_counter()
        decode += t1 - t0
        resize += t2 - t1
        mp += w * h / 1e6
    return {"megapixels": mp, "decode_s": decode, "resize_s": resize}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--longer-side", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("folders", nargs="*", default=[os.path.join(ROOT, "..", "shared", "data", "smvs-dvd")])
    args = parser.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "Benchmarks"),
                    "--product", "loupe-image-bench"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "loupe-image-bench")
    files = sorted(os.path.join(d, f) for folder in args.folders for d, _, fs in os.walk(folder) for f in fs
                   if f.lower().endswith((".jpg", ".jpeg", ".png")))
    blobs = [open(f, "rb").read() for f in files]
    results = {"pillow": [], "loupe-1t": [], "loupe-2t": []}
    for _ in range(args.runs):
        results["pillow"].append(pil_run(blobs, args.longer_side))
        for threads in (1, 2):
            out = subprocess.run([binary, "--longer-side", str(args.longer_side), "--threads", str(threads)] + args.folders,
                                 check=True, capture_output=True, text=True).stdout
            results[f"loupe-{threads}t"].append(json.loads(out))
    mp = results["pillow"][0]["megapixels"]
    print(f"{len(files)} files, {mp:.1f} megapixels per run, longer side {args.longer_side}, medians of {args.runs} alternating runs")
    print("| who | decode MP/s | resize MP/s (source MP) | decode + resize MP/s | ratio to Pillow (time) |")
    print("|---|---|---|---|---|")
    base = statistics.median(r["decode_s"] + r["resize_s"] for r in results["pillow"])
    for who, runs in results.items():
        d = statistics.median(r["decode_s"] for r in runs)
        z = statistics.median(r["resize_s"] for r in runs)
        t = statistics.median(r["decode_s"] + r["resize_s"] for r in runs)
        print(f"| {who} | {mp / d:.1f} | {mp / z:.1f} | {mp / t:.1f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Loupe vs OpenCV on the same work: the local features (difference of Gaussians, SIFT
descriptors) of every JPEG/PNG in the folders, each shrunk to a longer side of N first (not timed
on either side), at most --count features, the first octave doubled on both sides. Alternates
Loupe and OpenCV runs, reports medians and the ratio, with OpenCV on the same number of threads.

  .venv/bin/python Benchmarks/features_vs_opencv.py [--longer-side 640] [--count 1000] [--runs 5] [--threads 1] [DIR ...]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def opencv_run(images, count):
    sift = cv2.SIFT_create(nfeatures=count)
    seconds, found = 0.0, 0
    for grey in images:
        t0 = time.perf_counter()
        keypoints, _ = sift.detectAndCompute(grey, None)
        seconds += time.perf_counter() - t0
        found += len(keypoints)
    return {"files": len(images), "seconds": seconds, "features": found}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--longer-side", type=int, default=640)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("folders", nargs="*", default=[os.path.join(ROOT, "..", "shared", "data", "smvs-dvd", "reference")])
    args = parser.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "Benchmarks"),
                    "--product", "loupe-features-bench"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "loupe-features-bench")
    files = sorted(os.path.join(d, f) for folder in args.folders for d, _, fs in os.walk(folder) for f in fs
                   if f.lower().endswith((".jpg", ".jpeg", ".png")))
    cv2.setNumThreads(args.threads)
    images = []
    for path in files:
        grey = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        h, w = grey.shape
        s = args.longer_side / max(w, h)
        if s < 1:
            grey = cv2.resize(grey, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        images.append(grey)
    loupe, opencv = [], []
    command = [binary, "--longer-side", str(args.longer_side), "--count", str(args.count)] + args.folders
    env = dict(os.environ, LOUPE_THREADS=str(args.threads))
    for run in range(args.runs + 1):  # the first pair warms up
        a = json.loads(subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout)
        b = opencv_run(images, args.count)
        if run > 0:
            loupe.append(a)
            opencv.append(b)
    ms = lambda runs: statistics.median(r["seconds"] for r in runs) / runs[0]["files"] * 1000
    print(f"CPU: {cpu_model()}; {len(files)} images at {args.longer_side} px, at most {args.count} features, "
          f"{args.threads} thread(s), median of {args.runs}")
    print("| | ms per image | features per image |")
    print("|---|---|---|")
    print(f"| Loupe | {ms(loupe):.1f} | {loupe[0]['features'] / loupe[0]['files']:.0f} |")
    print(f"| OpenCV {cv2.__version__} SIFT | {ms(opencv):.1f} | {opencv[0]['features'] / opencv[0]['files']:.0f} |")
    print(f"| ratio Loupe / OpenCV | {ms(loupe) / ms(opencv):.2f} | |")


if __name__ == "__main__":
    main()

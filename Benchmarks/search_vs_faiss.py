#!/usr/bin/env python3
"""Exact k-NN search, Loupe vs faiss IndexFlatIP, same data, same threads, in one run.

100,000 random L2-normalised 1280-d vectors, 1,000 queries, k = 100 (the issue's setting).
Checks Loupe's results against a numpy brute force (ranking by score, then index) and faiss,
then times both alternately and prints queries/s and the ratio.

  .venv/bin/python Benchmarks/search_vs_faiss.py [--n 100000] [--d 1280] [--q 1000] [--k 100] [--threads 1,2]
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
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=1280)
    parser.add_argument("--q", type=int, default=1000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        import faiss
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "faiss-cpu"], check=True)
        import faiss
    subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "Benchmarks"),
                    "--product", "loupe-search-bench"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "loupe-search-bench")
    rng = np.random.default_rng(0)
    db = rng.standard_normal((args.n, args.d), dtype=np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    q = rng.standard_normal((args.q, args.d), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory() as tmp:
        data, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        save_file({"database": db, "queries": q}, data)
        # correctness: brute force in float64 on the float32 data
        scores = q.astype(np.float64) @ db.astype(np.float64).T
        reference = np.argsort(-scores, axis=1, kind="stable")[:, :args.k]
        subprocess.run([binary, data, out, "--k", str(args.k), "--runs", "1"], check=True, capture_output=True)
        mine = load_file(out)["indices"].astype(np.int64)
        same = int((mine == reference).all(axis=1).sum())
        # any difference must be a near-tie: the swapped items' exact scores differ by < 1e-6
        worst = 0.0
        for row in np.nonzero(~(mine == reference).all(axis=1))[0]:
            worst = max(worst, float(np.abs(scores[row, mine[row]] - scores[row, reference[row]]).max()))
        print(f"correctness: {same}/{args.q} queries identical to the float64 brute force; "
              f"largest score gap in the others {worst:.2e}")
        index = faiss.IndexFlatIP(args.d)
        index.add(db)
        _, faiss_ids = index.search(q, args.k)
        print(f"faiss agrees with the brute force on {int((faiss_ids == reference).all(axis=1).sum())}/{args.q} queries")
        print(f"\n{args.n} × {args.d} database, {args.q} queries, k = {args.k}; medians of {args.rounds} alternating rounds")
        print("| threads | Loupe queries/s | faiss IndexFlatIP queries/s | Loupe / faiss (speed) |")
        print("|---|---|---|---|")
        for threads in (int(t) for t in args.threads.split(",")):
            faiss.omp_set_num_threads(threads)
            ours, theirs = [], []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                index.search(q, args.k)
                theirs.append(time.perf_counter() - t0)
                result = subprocess.run([binary, data, out, "--k", str(args.k), "--threads", str(threads), "--runs", "3"],
                                        check=True, capture_output=True, text=True).stdout
                ours.append(json.loads(result)["median_s"])
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"| {threads} | {args.q / a:.0f} | {args.q / b:.0f} | {b / a:.2f} |", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Opening a large index: how long until it answers, and what it keeps resident.

Builds (once) a FlatIndex of 1,000,000 clustered 1280-d vectors — the mixture of
Benchmarks/quantized_vs_faiss.py — with an IVF-PQ part (IVF1024,PQ64), written as a Loupe index
file (~5 GB), then opens it in fresh processes, alternating:

- checked as read (`IndexVerification.onAccess`, what `loupe search` does): every section but the
  vectors verified on opening, each vector row checked (CRC-32C, finite) when a search first reads it;
- checked in full (`.full`, the library's default): every byte verified before the first query.

The same vectors are also kept as a segment folder (`IndexLayout.segments`) and, grouped 10 to an
image, as an object index of 100,000 images (1,000,000 regions), each opened checked as read.

Each process opens the file, answers one query (probe 16, refine 1,000, k 10), then 100 more.
Reported: medians of the open time, the first query, the mean of the next 100, and the process's
resident memory after the first query (its own memory and the mapped file's pages). Each file is
read through the page cache before its runs; a cold disk adds its read time to the pages read.

Then the cost of a change: a process opens the index as `loupe index --update` does, adds 100
images, removes 10 and writes it back where it was — the whole file again, or one segment of the
change and a new manifest in the folder (medians of --runs, alternating).

    .venv/bin/python Benchmarks/open_index.py [--data /tmp/open1m] [--runs 7]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quantized_vs_faiss  # noqa: E402  (the same synthetic vectors and CPU description)


def warm(path):
    """Reads a file, or every file of a folder, through the page cache."""
    files = [os.path.join(path, n) for n in os.listdir(path)] if os.path.isdir(path) else [path]
    for name in files:
        with open(name, "rb") as f:
            while f.read(1 << 24):
                pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/open1m")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--no-update", action="store_true", help="measure the opening only")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(root, "Benchmarks"), "--product", "loupe-open-bench"], check=True)
    bench = os.path.join(root, "Benchmarks", ".build", "release", "loupe-open-bench")
    os.makedirs(args.data, exist_ok=True)
    if not os.path.exists(os.path.join(args.data, "meta.json")):
        quantized_vs_faiss.synthesize(args.data, args.n, 1280, 100_000, 1000)
        json.dump({"d": 1280, "n": args.n, "ntrain": 100_000, "nq": 1000}, open(os.path.join(args.data, "meta.json"), "w"))
    made = {"file": os.path.join(args.data, "ivfpq.index"), "segments": os.path.join(args.data, "ivfpq.segments"),
            "objects": os.path.join(args.data, "objects.index")}
    for layout, path in made.items():
        if not os.path.exists(path):
            extra = [] if layout == "file" else [layout]
            print(subprocess.run([bench, "make", args.data, path, "IVF1024,PQ64"] + extra, check=True, capture_output=True, text=True).stdout.strip())
    cases = {"file, checked as read": (made["file"], []), "file, checked in full": (made["file"], ["full"]),
             "segment folder, checked as read": (made["segments"], []), "object index (100,000 images × 10 regions), checked as read": (made["objects"], [])}
    results = {name: [] for name in cases}
    # the indexes together are larger than the page cache: each case's file is read through
    # first, then its runs follow one another, so that each opens a file in the page cache
    for name, (path, extra) in cases.items():
        warm(path)
        for _ in range(args.runs):
            out = subprocess.run([bench, "open", path, args.data] + extra, check=True, capture_output=True, text=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"CPU: {quantized_vs_faiss.cpu_model()}; {args.n:,} vectors, file {results['file, checked in full'][0]['file_mb'] / 1024:.2f} GiB; "
          f"medians of {args.runs} runs each\n")
    print("| opened | open s (range) | first query ms | next queries ms | resident after the first query, MiB (own + file pages) |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
        low, high = min(r["open_s"] for r in rows), max(r["open_s"] for r in rows)
        print(f"| {name} | {med('open_s'):.3f} ({low:.3f}–{high:.3f}) | {1000 * med('first_query_s'):.1f} | "
              f"{1000 * med('query_s'):.1f} | {med('rss_mb_first_query'):,.0f} ({med('anon_mb_first_query'):,.0f} + {med('file_backed_mb_first_query'):,.0f}) |")
    if args.no_update:
        return
    # a change of 100 added and 10 removed images, written back
    writes = {"file": [], "segments": []}
    for _ in range(args.runs):
        for layout in writes:
            out = subprocess.run([bench, "update", made[layout], args.data], check=True, capture_output=True, text=True)
            writes[layout].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\n| layout | write of 100 added + 10 removed images, s (range) | bytes written, MiB |")
    print("|---|---|---|")
    for layout, rows in writes.items():
        times = [r["write_s"] for r in rows]
        print(f"| {layout} | {statistics.median(times):.3f} ({min(times):.3f}–{max(times):.3f}) | {statistics.median(r['written_mb'] for r in rows):,.1f} |")


if __name__ == "__main__":
    main()

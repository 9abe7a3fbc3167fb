#!/usr/bin/env python3
"""Approximate search, Loupe's QuantizedIndex vs faiss, same vectors, settings and threads, one run.

For each of IVF-Flat, PQ and IVF-PQ (inner product, 8-bit codes) at the same nlist / M / nprobe:
Recall@10 against exact search, bytes per vector, training and adding time, queries/s on each
thread count (alternating Loupe and faiss, medians of --rounds), and the speed ratio.

Data (--data):
  synthetic   N vectors from a Gaussian mixture that lives mostly in a low-dimensional subspace,
              as CNN embeddings do: 4,096 cluster centres drawn in a 128-d latent space (unit
              Gaussian), each vector its centre plus within-cluster spread 0.6 per latent axis,
              mapped into D dimensions by a random orthonormal basis, plus isotropic noise 0.2
              per dimension (about a quarter of the energy), L2-normalised. Neighbours are
              therefore far closer than random pairs within the dominant subspace, which is what
              lets a coarse quantizer and 8-bit sub-quantizers find them (on isotropic Gaussian
              data in 1280-d every pair is nearly equidistant and IVF-PQ recall collapses).
              Queries are fresh draws from the same mixture; training uses the first --train rows.
  FILE        the `vectors` of a Loupe index (e.g. an object index's region vectors); queries
              are --q of its rows (left in the database), training uses every row.

  .venv/bin/python Benchmarks/quantized_vs_faiss.py [--n 1000000] [--d 1280] [--lists 1024]
      [--pq 64] [--probe 16] [--kinds ivfflat,pq,ivfpq] [--threads 1,2] [--rounds 3]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import statistics

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
        flags = next(l.split(":", 1)[1] for l in out.splitlines() if l.startswith("Flags")).split()
        isa = "AVX-512" if "avx512f" in flags else ("AVX2+FMA" if "avx2" in flags and "fma" in flags else "SSE")
        return f"{name} ({isa})"
    except Exception:
        return platform.processor()


def synthesize(folder, n, d, ntrain, nq, seed=0):
    rng = np.random.default_rng(seed)
    latent, clusters = 128, 4096
    centres = rng.standard_normal((clusters, latent)).astype(np.float32)
    basis, _ = np.linalg.qr(rng.standard_normal((d, latent)))
    basis = basis.T.astype(np.float32)  # [latent, d], orthonormal rows

    def draw(count):
        z = centres[rng.integers(clusters, size=count)] + 0.6 * rng.standard_normal((count, latent), dtype=np.float32)
        x = z @ basis + 0.2 * rng.standard_normal((count, d), dtype=np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    with open(os.path.join(folder, "base.f32"), "wb") as f:
        for start in range(0, n, 100_000):
            f.write(draw(min(100_000, n - start)).tobytes())
    base = np.memmap(os.path.join(folder, "base.f32"), dtype=np.float32, mode="r", shape=(n, d))
    base[:ntrain].tofile(os.path.join(folder, "train.f32"))
    draw(nq).tofile(os.path.join(folder, "queries.f32"))


def from_file(folder, path, nq):
    from safetensors.numpy import load_file
    x = load_file(path)["vectors"].astype(np.float32)
    x.tofile(os.path.join(folder, "base.f32"))
    x.tofile(os.path.join(folder, "train.f32"))
    rng = np.random.default_rng(0)
    x[rng.choice(len(x), size=nq, replace=False)].tofile(os.path.join(folder, "queries.f32"))
    return x.shape


def exact_top(base, queries, k):
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(base), 100_000):
        s = queries @ np.asarray(base[start:start + 100_000]).T
        s = np.concatenate([best_s, s], axis=1)
        i = np.concatenate([best_i, np.arange(start, start + s.shape[1] - k)[None, :].repeat(len(queries), 0)], axis=1)
        top = np.argpartition(-s, k, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
    return best_i


def recall(found, truth, k):
    return float(np.mean([len(set(found[q, :k]) & set(truth[q, :k])) / k for q in range(len(truth))]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="synthetic")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=1280)
    p.add_argument("--train", type=int, default=100_000)
    p.add_argument("--q", type=int, default=1000)
    p.add_argument("--pq-queries", type=int, default=100, help="queries for plain PQ, which scans every code")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--lists", type=int, default=1024)
    p.add_argument("--pq", type=int, default=64)
    p.add_argument("--probe", type=int, default=16)
    p.add_argument("--kinds", default="ivfflat,pq,ivfpq")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--keep", help="folder for the generated vectors (reused when it holds them)")
    args = p.parse_args()
    try:
        import faiss
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "faiss-cpu"], check=True)
        import faiss
    subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "Benchmarks"),
                    "--product", "loupe-quantized-bench"], check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "loupe-quantized-bench")
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep or tmp.name
    os.makedirs(folder, exist_ok=True)
    if args.data == "synthetic":
        n, d, ntrain = args.n, args.d, min(args.train, args.n)
        if not os.path.exists(os.path.join(folder, "queries.f32")):
            t0 = time.time()
            synthesize(folder, n, d, ntrain, args.q)
            print(f"generated {n} × {d} vectors in {time.time() - t0:.0f} s", flush=True)
        what = f"{n:,} synthetic clustered {d}-d vectors (see the script's docstring)"
    else:
        n, d = from_file(folder, args.data, args.q)
        ntrain = n
        what = f"{n:,} region vectors ({d}-d) of {os.path.basename(args.data)}"
    base = np.memmap(os.path.join(folder, "base.f32"), dtype=np.float32, mode="r", shape=(n, d))
    train = np.fromfile(os.path.join(folder, "train.f32"), dtype=np.float32).reshape(ntrain, d)
    queries_all = np.fromfile(os.path.join(folder, "queries.f32"), dtype=np.float32).reshape(args.q, d)
    truth = exact_top(base, queries_all, args.k)
    print(f"\n{what}; {args.q} queries, k = {args.k}, nlist = {args.lists}, M = {args.pq} × 8 bits, nprobe = {args.probe}")
    opts = getattr(faiss, "get_compile_options", lambda: "?")()
    print(f"CPU: {cpu_model()}; Loupe kernels: {os.environ.get('LOUPE_ISA', 'detected level')}; "
          f"faiss {faiss.__version__} ({opts}); medians of {args.rounds} alternating rounds\n")
    threads = [int(t) for t in args.threads.split(",")]
    head = "| index | side | Recall@10 | bytes/vector | train s | add s | " + " | ".join(f"queries/s ({t} thr)" for t in threads) + " |"
    print(head)
    print("|" + "---|" * (6 + len(threads)))
    ratios = []
    for kind in args.kinds.split(","):
        nq = args.pq_queries if kind == "pq" else args.q
        queries = np.ascontiguousarray(queries_all[:nq])
        meta = {"d": d, "n": n, "ntrain": ntrain, "nq": nq}
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump(meta, f)
        factory = {"ivfflat": f"IVF{args.lists},Flat", "pq": f"PQ{args.pq}", "ivfpq": f"IVF{args.lists},PQ{args.pq}"}[kind]
        faiss.omp_set_num_threads(max(threads))
        loupe = subprocess.Popen([binary, folder, factory], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        built = json.loads(loupe.stdout.readline())
        if kind == "ivfflat":
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, args.lists, faiss.METRIC_INNER_PRODUCT)
        elif kind == "pq":
            index = faiss.IndexPQ(d, args.pq, 8, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFPQ(faiss.IndexFlatIP(d), d, args.lists, args.pq, 8, faiss.METRIC_INNER_PRODUCT)
        t0 = time.perf_counter()
        index.train(train)
        faiss_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(0, n, 50_000):
            index.add(np.ascontiguousarray(base[start:start + 50_000]))
        faiss_add = time.perf_counter() - t0
        if kind != "pq":
            index.nprobe = args.probe
        faiss_bytes = {"ivfflat": 4 * d + 8, "pq": args.pq, "ivfpq": args.pq + 8}[kind]
        speeds = {"Loupe": [], "faiss": []}
        found = {}
        for t in threads:
            faiss.omp_set_num_threads(t)
            loupe.stdin.write(f"threads {t}\n"); loupe.stdin.flush(); loupe.stdout.readline()
            ours, theirs = [], []
            index.search(queries, args.k)  # warm-up
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                _, found["faiss"] = index.search(queries, args.k)
                theirs.append(time.perf_counter() - t0)
                loupe.stdin.write(f"search {args.probe} {args.k} 1\n"); loupe.stdin.flush()
                ours.append(json.loads(loupe.stdout.readline())["median_s"])
            found["Loupe"] = np.fromfile(os.path.join(folder, "loupe-ids.i64"), dtype=np.int64).reshape(nq, args.k)
            speeds["Loupe"].append(nq / statistics.median(ours))
            speeds["faiss"].append(nq / statistics.median(theirs))
        loupe.stdin.write("quit\n"); loupe.stdin.flush(); loupe.wait()
        rows = {"Loupe": (built["bytes_per_vector"], built["train_s"], built["add_s"]), "faiss": (faiss_bytes, faiss_train, faiss_add)}
        for side in ("Loupe", "faiss"):
            b, tr, ad = rows[side]
            cells = " | ".join(f"{s:,.0f}" for s in speeds[side])
            print(f"| {factory} | {side} | {recall(found[side], truth[:nq], args.k):.3f} | {b} | {tr:.1f} | {ad:.1f} | {cells} |", flush=True)
        ratios.append((factory, [a / b for a, b in zip(speeds["Loupe"], speeds["faiss"])]))
        del index
    print("\nspeed ratio Loupe / faiss (higher is better):")
    for factory, r in ratios:
        print(f"  {factory}: " + ", ".join(f"{x:.2f} ({t} thr)" for x, t in zip(r, threads)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End-to-end check of `loupe-analysis` on a few real images (run by Scripts/test.sh).

A small grid (MobileNetV2 + YOLOX-Nano, two poolings, three whitening settings, global / objects /
teacher) on the first images of smvs-dvd and flowers17-dev must: finish; write a CSV with exactly
the expected cells, every score in [0, 1]; agree with an independent numpy evaluation of the
global cells from the cached vectors; draw its plots; rerun from the cache without computing a
single shard; and refuse bad options with a message instead of a crash.

  .venv/bin/python Scripts/check_analysis.py BINARY DATA_DIR
"""
import csv
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)


def main():
    binary, data = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        cache, out = os.path.join(tmp, "cache"), os.path.join(tmp, "out")
        args = ["--dataset", f"smvs:{data}/smvs-dvd", "--dataset", f"labels:{data}/flowers17-dev",
                "--whitening-data", f"labels:{data}/coil100-20deg", "--limit", "8",
                "--backbones", "mobilenet_v2,yolox_nano", "--poolings", "gem,mac", "--whitening", "none,8,full",
                "--modes", "global,objects,teacher", "--cache", cache, "--output", out, "--shard-size", "5"]
        first = run(binary, *args)
        assert first.returncode == 0, first.stderr
        rows = list(csv.DictReader(open(os.path.join(out, "analysis.csv"))))
        # 2 datasets × (3 MobileNetV2 + 4 YOLOX stages) × 2 poolings × 3 modes × 3 whitening settings
        assert len(rows) == 2 * 7 * 2 * 3 * 3, len(rows)
        assert all(0 <= float(r["map"]) <= 1 and 0 <= float(r["recall_at_1"]) <= 1 for r in rows)
        assert {r["whitening"] for r in rows} == {"none", "8", "full"}
        assert all(int(r["dimension"]) == 8 for r in rows if r["whitening"] == "8")
        for name in ("analysis.md", "whitening.png", "layers.png", "modes.png"):
            assert os.path.getsize(os.path.join(out, name)) > 1000, name

        # independent check: the smvs global GeM cell of MobileNetV2's last stage, unwhitened, from
        # the cached vectors: cosine ranking and non-interpolated AP in numpy
        smvs = [d for d in glob.glob(os.path.join(cache, "smvs-dvd-*"))][0]
        folder = glob.glob(os.path.join(smvs, "mobilenet_v2-global-*"))[0]
        vectors = np.concatenate([load_file(f)["features.18|gem"] for f in sorted(glob.glob(os.path.join(folder, "shard-*")))])
        refs = sorted(os.listdir(os.path.join(data, "smvs-dvd", "reference")))[:8]
        gt = list(csv.DictReader(open(os.path.join(data, "smvs-dvd", "gt", "queries.csv"))))
        queries = [q for q in gt if q["relevant_reference"].split("/")[-1] in refs][:8]
        assert vectors.shape[0] == len(refs) + len(queries), vectors.shape
        aps = []
        for j, q in enumerate(queries):
            scores = vectors[len(refs) + j] @ vectors[:len(refs)].T
            order = sorted(range(len(refs)), key=lambda i: (-scores[i], i))
            rank = order.index(refs.index(q["relevant_reference"].split("/")[-1]))
            aps.append(1.0 / (rank + 1))
        mine = [r for r in rows if r["dataset"] == "smvs-dvd" and r["backbone"] == "mobilenet_v2" and r["stage"] == "features.18"
                and r["pooling"] == "gem" and r["mode"] == "global" and r["whitening"] == "none"]
        assert len(mine) == 1 and abs(float(mine[0]["map"]) - np.mean(aps)) < 1e-4, (mine, np.mean(aps))

        # a rerun reads every shard from the cache and scores the same
        before = open(os.path.join(out, "analysis.csv")).read()
        second = run(binary, *args)
        assert second.returncode == 0, second.stderr
        assert "embeddings: 0 shard files computed" in second.stderr, second.stderr
        assert open(os.path.join(out, "analysis.csv")).read() == before

        # an extended grid (one more pooling) recomputes; a narrower one reads the cache
        wider = [a if a != "gem,mac" else "gem,mac,spoc" for a in args]
        third = run(binary, *wider)
        assert third.returncode == 0 and "embeddings: 0 shard files computed" not in third.stderr, third.stderr
        fourth = run(binary, *[a if a != "gem,mac" else "spoc" for a in args])
        assert fourth.returncode == 0 and "embeddings: 0 shard files computed" in fourth.stderr, fourth.stderr

        # a corrupt image in a dataset: a message naming the file, nothing cached for its shard
        broken = os.path.join(tmp, "broken")
        os.makedirs(os.path.join(broken, "images"))
        names = sorted(os.listdir(os.path.join(data, "flowers17-dev", "images")))[:3]
        broken_name = names[1]  # truncated to its first 200 bytes
        for name in names:
            src = open(os.path.join(data, "flowers17-dev", "images", name), "rb").read()
            open(os.path.join(broken, "images", name), "wb").write(src[:200] if name == broken_name else src)
        labels = open(os.path.join(data, "flowers17-dev", "labels.csv")).read().splitlines()
        open(os.path.join(broken, "labels.csv"), "w").write("\n".join(labels[:4]) + "\n")
        r = run(binary, "--dataset", f"labels:{broken}", "--whitening-data", f"labels:{data}/coil100-20deg", "--limit", "8",
                "--backbones", "mobilenet_v2", "--poolings", "gem", "--whitening", "none", "--modes", "global",
                "--cache", os.path.join(tmp, "cache2"), "--output", os.path.join(tmp, "out2"))
        assert r.returncode == 1 and broken_name in r.stderr, (r.returncode, r.stderr[-500:])
        assert not glob.glob(os.path.join(tmp, "cache2", "broken-*", "*", "shard-*")), "a shard was cached for a broken image"

        # bad options: a message and a non-zero exit, never a crash
        for bad in (["--poolings", "median"], ["--dataset", "nonsense:/nowhere"], ["--whitening", "-3"],
                    ["--backbones", "vgg16"], ["--dataset", f"smvs:{tmp}/missing"]):
            r = run(binary, *args[:-2], *bad)
            assert r.returncode not in (0,) and r.returncode < 128 and r.stderr.strip(), (bad, r.returncode, r.stderr)
    print("loupe-analysis: grid, independent AP check, plots, cache rerun and bad options OK")


if __name__ == "__main__":
    main()

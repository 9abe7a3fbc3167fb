#!/usr/bin/env python3
"""Which side of a retrieval falls short: scores smvs-dvd queries embedded by one object index
against the references embedded by another (e.g. student queries vs crop-teacher references).

Both indexes are `loupe index --objects` files of the whole smvs-dvd folder (references and
queries). Scoring follows `loupe eval smvs --objects`: the query's object regions (its whole
image when it has none) against every region of each reference, best pair; mAP per camera.

  loupe index DATA/smvs-dvd -o teacher.index --objects --object-method teacher --max-size 512
  loupe index DATA/smvs-dvd -o student.index --objects --student HEAD
  .venv/bin/python Scripts/mix_embedders.py teacher.index student.index [--data DATA/smvs-dvd]
"""
import argparse
import csv
import json
import os

import numpy as np
from safetensors import safe_open


def load(path):
    with safe_open(path, "np") as f:
        meta = f.metadata()
        if meta.get("format") != "loupe-object-index":
            raise SystemExit(f"{path} is not a Loupe object index")
        vectors, images = f.get_tensor("vectors"), f.get_tensor("images").astype(int).ravel()
        # format 4 keeps paths (NUL-ended UTF-8) and region kinds (codes) as sections; older files in the metadata
        if "paths" in meta:
            stored = json.loads(meta["paths"])
        else:
            stored = [p.decode() for p in f.get_tensor("paths").tobytes().split(b"\0")[:-1]]
        if "regions" in meta:
            kinds = [r.get("kind", "") for r in json.loads(meta["regions"])]
        else:
            names = ["image", "detected", "given", "matched", "grid"]
            kinds = [names[int(c)] for c in f.get_tensor("regions.kind")]
    paths = [p.split("smvs-dvd/")[-1] for p in stored]
    return vectors, images, paths, kinds


def average_precision(scores, positive):
    rank = int((scores > scores[positive]).sum())  # one relevant reference per query
    return 1.0 / (rank + 1)


def score(queries, database, rows):
    vq, iq, pq, kq = queries
    vd, idb, pd, _ = database
    refs = [i for i, p in enumerate(pd) if p.startswith("reference/")]
    ref_of_row = np.full(len(idb), -1)
    for slot, image in enumerate(refs):
        ref_of_row[idb == image] = slot
    keep = ref_of_row >= 0
    per_camera = {}
    for r in rows:
        qrows = np.where(iq == pq.index(r["query"]))[0]
        objects = [j for j in qrows if kq[j] != "image"] or list(qrows[:1])
        best = (vq[objects] @ vd[keep].T).max(0)
        scores = np.full(len(refs), -np.inf)
        np.maximum.at(scores, ref_of_row[keep], best)
        positive = refs.index(pd.index(r["relevant_reference"]))
        per_camera.setdefault(r["camera"], []).append(average_precision(scores, positive))
    overall = float(np.mean([ap for aps in per_camera.values() for ap in aps]))
    return {camera: round(float(np.mean(aps)), 3) for camera, aps in per_camera.items()}, round(overall, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "smvs-dvd"))
    args = parser.parse_args()
    rows = list(csv.DictReader(open(os.path.join(args.data, "gt", "queries.csv"))))
    a, b = load(args.first), load(args.second)
    for name, q, d in [("first/first", a, a), ("second/second", b, b), ("queries first, references second", a, b),
                       ("queries second, references first", b, a)]:
        per_camera, overall = score(q, d, rows)
        print(f"{name}: mAP {overall:.3f} {per_camera}")


if __name__ == "__main__":
    main()

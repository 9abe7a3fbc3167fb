#!/usr/bin/env python3
"""A spliced-image benchmark from real photos and real object masks (the `splices` layout of
`loupe eval`).

Objects are cut out of donor photos along their COCO instance masks (../shared/data/mask-photos)
and pasted into host photos (the same set, smvs-dvd's references, flowers17-dev, coil100): pasted
area 1-30 % of the host (log-uniform), scale x0.3-1.5 of the donor object, rotation +-45 degrees,
mirror flips, colour / contrast / brightness shifts, hard or feathered edges, JPEG recompression at
quality 70-95. A quarter of the queries (by default) have two donors. Everything is drawn from one
seeded generator: the same arguments give the same bytes.

Layout written under OUT:

  reference/            the collection: every host and donor photo plus distractors (symbolic
                        links to ../shared, or copies with --copy)
  queries/dev/          splices to tune on
  queries/report/       splices only reported (a disjoint half)
  gt/roles.csv          query,host,donor   (query relative to queries/, host and donors to
                        reference/, several donors separated by ';')
  gt/masks/<query>.png  the pasted pixels: 0 elsewhere, k for donor k (1-based, in roles order)
  gt/splices.csv        per donor: area fraction of the host, scale, rotation, flip, feather,
                        colour shift, JPEG quality, category, the donor object's instance id

  .venv/bin/python Scripts/make_splices.py --data ../shared/data --out .cache/splices [--queries 400] [--seed 1]
"""
import argparse
import csv
import math
import os
import random
import shutil
import sys

import numpy
from PIL import Image, ImageFilter


def load_objects(mask_root):
    """Instances with enough visible pixels to be worth pasting, by file."""
    objects = {}
    with open(os.path.join(mask_root, "objects.csv")) as f:
        for row in csv.DictReader(f):
            w, h = int(row["x1"]) - int(row["x0"]), int(row["y1"]) - int(row["y0"])
            if int(row["visible_px"]) >= 2500 and min(w, h) >= 24:
                objects.setdefault(row["file"], []).append(row)
    return objects


def collection(data, rng, flowers, coil):
    """(name in reference/, source path, source kind) for every photo of the collection."""
    items = []
    masks = os.path.join(data, "mask-photos", "coco2017-subset", "images")
    for name in sorted(os.listdir(masks)):
        items.append(("coco-" + name, os.path.join(masks, name), "coco"))
    dvd = os.path.join(data, "smvs-dvd", "reference")
    for name in sorted(os.listdir(dvd)):
        items.append(("dvd-" + name, os.path.join(dvd, name), "dvd"))
    for folder, prefix, count in (("flowers17-dev", "flowers-", flowers), ("coil100-20deg", "coil-", coil)):
        images = os.path.join(data, folder, "images")
        names = sorted(os.listdir(images))
        for name in sorted(rng.sample(names, min(count, len(names)))):
            items.append((prefix + name, os.path.join(images, name), folder))
    return items


def cut(donor_rgb, mask, instance, rng, target_pixels):
    """The donor object as an RGBA patch, transformed; returns (patch, params) or None when the
    target size cannot be reached within the allowed scales."""
    ys, xs = numpy.nonzero(mask == instance)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    visible = len(xs)
    scale = math.sqrt(target_pixels / visible)
    if not 0.3 <= scale <= 1.5:
        return None
    rgb = donor_rgb[y0:y1, x0:x1].astype(numpy.float32)
    alpha = ((mask[y0:y1, x0:x1] == instance) * 255).astype(numpy.uint8)
    # colour: per-channel gain, contrast around the patch's mean, brightness offset
    gain = numpy.array([rng.uniform(0.88, 1.12) for _ in range(3)], dtype=numpy.float32)
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-15, 15)
    mean = rgb.reshape(-1, 3).mean(axis=0)
    rgb = numpy.clip((rgb - mean) * contrast + mean * gain + brightness, 0, 255).astype(numpy.uint8)
    patch = Image.fromarray(numpy.dstack([rgb, alpha]), "RGBA")
    flip = rng.random() < 0.5
    if flip:
        patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    w, h = max(4, round(patch.width * scale)), max(4, round(patch.height * scale))
    patch = patch.resize((w, h), Image.Resampling.BICUBIC)
    angle = rng.uniform(-45, 45)
    patch = patch.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    feather = rng.choice([0, 0, 1.0, 2.0, 3.0])
    if feather:
        r, g, b, a = patch.split()
        patch = Image.merge("RGBA", (r, g, b, a.filter(ImageFilter.GaussianBlur(feather))))
    params = {"scale": round(scale, 4), "rotation": round(angle, 2), "flip": int(flip), "feather": feather,
              "gain": ";".join(f"{g:.3f}" for g in gain), "contrast": round(contrast, 3), "brightness": round(brightness, 2)}
    return patch, params


def place(host_size, patch, taken, rng):
    """A top-left corner keeping the patch inside the host and off the boxes already pasted."""
    hw, hh = host_size
    if patch.width >= hw or patch.height >= hh:
        return None
    for _ in range(50):
        x, y = rng.randrange(0, hw - patch.width), rng.randrange(0, hh - patch.height)
        box = (x, y, x + patch.width, y + patch.height)
        if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1] for t in taken):
            return x, y
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=".cache/splices")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--two-donors", type=float, default=0.25, help="share of queries with two donors")
    parser.add_argument("--flowers", type=int, default=100, help="flowers17-dev photos in the collection")
    parser.add_argument("--coil", type=int, default=60, help="coil100 photos in the collection")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--copy", action="store_true", help="copy the collection's photos instead of linking them")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    data = os.path.abspath(args.data)
    mask_root = os.path.join(data, "mask-photos", "coco2017-subset")
    objects = load_objects(mask_root)
    items = collection(data, rng, args.flowers, args.coil)
    donors = sorted(f for f in objects)

    out = args.out
    if os.path.exists(out):
        shutil.rmtree(out)
    for sub in ("reference", "queries/dev", "queries/report", "gt/masks"):
        os.makedirs(os.path.join(out, sub))
    for name, source, _ in items:
        target = os.path.join(out, "reference", name)
        if args.copy:
            shutil.copy(source, target)
        else:
            os.symlink(source, target)

    roles, details = [], []
    made = 0
    order = list(range(args.queries))
    rng.shuffle(order)
    report_half = set(order[: args.queries // 2])
    while made < args.queries:
        host_name, host_path, _ = rng.choice(items)
        host = Image.open(host_path).convert("RGB")
        donor_count = 2 if rng.random() < args.two_donors else 1
        canvas = host.copy()
        truth = numpy.zeros((host.height, host.width), dtype=numpy.uint8)
        taken, used, rows = [], [], []
        for k in range(donor_count):
            for _ in range(30):
                donor_file = rng.choice(donors)
                donor_name = "coco-" + donor_file
                if donor_name == host_name or donor_name in used:
                    continue
                obj = rng.choice(objects[donor_file])
                stem = os.path.splitext(donor_file)[0]
                mask = numpy.asarray(Image.open(os.path.join(mask_root, "masks", stem + ".png")))
                donor = numpy.asarray(Image.open(os.path.join(mask_root, "images", donor_file)).convert("RGB"))
                fraction = math.exp(rng.uniform(math.log(0.01), math.log(0.30)))
                cutout = cut(donor, mask, int(obj["instance_id"]), rng, fraction * host.width * host.height)
                if cutout is None:
                    continue
                patch, params = cutout
                corner = place(host.size, patch, taken, rng)
                if corner is None:
                    continue
                x, y = corner
                canvas.paste(patch, (x, y), patch)
                alpha = numpy.asarray(patch.split()[3])
                region = truth[y:y + patch.height, x:x + patch.width]
                region[(alpha >= 128) & (region == 0)] = k + 1
                taken.append((x, y, x + patch.width, y + patch.height))
                used.append(donor_name)
                rows.append((donor_name, obj, params))
                break
        if len(used) < donor_count:
            continue  # no donor fitted this host: draw another host
        quality = rng.randint(70, 95)
        split = "report" if made in report_half else "dev"
        query = f"{split}/splice-{made:04d}.jpg"
        canvas.save(os.path.join(out, "queries", query), quality=quality)
        Image.fromarray(truth).save(os.path.join(out, "gt", "masks", f"splice-{made:04d}.png"))
        roles.append((query, host_name, ";".join(used)))
        for k, (donor_name, obj, params) in enumerate(rows):
            area = float((truth == k + 1).sum()) / (host.width * host.height)
            details.append({"query": query, "split": split, "host": host_name, "donor": donor_name, "donor_index": k + 1,
                            "category": obj["category"], "instance_id": obj["instance_id"], "area_fraction": round(area, 5),
                            "jpeg_quality": quality, **params})
        made += 1
        if made % 50 == 0:
            print(f"{made}/{args.queries} splices", file=sys.stderr)

    with open(os.path.join(out, "gt", "roles.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query", "host", "donor"])
        writer.writerows(roles)
    with open(os.path.join(out, "gt", "splices.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(details[0]))
        writer.writeheader()
        writer.writerows(details)
    two = sum(1 for r in roles if ";" in r[2])
    print(f"{len(roles)} splices ({two} with two donors) into a collection of {len(items)} photos -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

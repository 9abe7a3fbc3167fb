"""make_splices.py on hand-made photos: the truth it writes must be where the pixels changed."""
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
from PIL import Image

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "make_splices.py")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def gradient(width, height, seed):
    """A smooth photo-like background (JPEG keeps it within a few grey levels)."""
    y, x = np.mgrid[0:height, 0:width]
    r = (60 + 100 * x / width + 10 * seed) % 256
    g = (80 + 80 * y / height) % 256
    b = np.full_like(r, 90 + 20 * seed)
    return np.dstack([r, g, b]).astype(np.uint8)


def make_data(root):
    coco = os.path.join(root, "mask-photos", "coco2017-subset")
    os.makedirs(os.path.join(coco, "images"))
    os.makedirs(os.path.join(coco, "masks"))
    rows = []
    for i in range(4):
        image = gradient(320, 240, i)
        mask = np.zeros((240, 320), dtype=np.uint8)
        x0, y0 = 40 + 30 * i, 50
        image[y0:y0 + 90, x0:x0 + 110] = (230, 20 + 10 * i, 220)  # a flat object of its own colour
        mask[y0:y0 + 90, x0:x0 + 110] = 1
        name = f"{i:012d}.jpg"
        Image.fromarray(image).save(os.path.join(coco, "images", name), quality=95)
        Image.fromarray(mask).save(os.path.join(coco, "masks", f"{i:012d}.png"))
        rows.append([name, 1, 1, "thing", "stuff", i, 90 * 110, x0, y0, x0 + 110, y0 + 90])
    with open(os.path.join(coco, "objects.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "instance_id", "category_id", "category", "supercategory", "coco_ann_id", "visible_px", "x0", "y0", "x1", "y1"])
        writer.writerows(rows)
    for folder, count in (("smvs-dvd/reference", 2), ("flowers17-dev/images", 2), ("coil100-20deg/images", 2)):
        os.makedirs(os.path.join(root, folder))
        for i in range(count):
            Image.fromarray(gradient(400, 300, 5 + i)).save(os.path.join(root, folder, f"{i:03d}.jpg"), quality=95)


class MakeSplicesTests(unittest.TestCase):
    def test_truth_marks_the_pasted_pixels_and_runs_repeat(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            make_data(data)
            outs = [os.path.join(tmp, f"out{i}") for i in range(2)]
            for out in outs:
                subprocess.run([sys.executable, SCRIPT, "--data", data, "--out", out, "--queries", "8", "--two-donors", "0.5",
                                "--flowers", "2", "--coil", "2", "--seed", "3"], check=True, capture_output=True)
            with open(os.path.join(outs[0], "gt", "roles.csv")) as f:
                roles = list(csv.DictReader(f))
            with open(os.path.join(outs[0], "gt", "splices.csv")) as f:
                details = list(csv.DictReader(f))
            self.assertEqual(len(roles), 8)
            self.assertEqual({r["query"].split("/")[0] for r in roles}, {"dev", "report"})
            self.assertTrue(any(";" in r["donor"] for r in roles))
            reference = os.path.join(outs[0], "reference")
            for role in roles:
                query = np.asarray(Image.open(os.path.join(outs[0], "queries", role["query"])).convert("RGB")).astype(float)
                host = np.asarray(Image.open(os.path.join(reference, role["host"])).convert("RGB")).astype(float)
                stem = os.path.splitext(os.path.basename(role["query"]))[0]
                mask = np.asarray(Image.open(os.path.join(outs[0], "gt", "masks", stem + ".png")))
                donors = role["donor"].split(";")
                self.assertEqual(query.shape, host.shape)
                self.assertTrue(all(d.startswith("coco-") and d != role["host"] and os.path.exists(os.path.join(reference, d)) for d in donors))
                difference = np.abs(query - host).mean(axis=2)
                # away from the pasted parts (their feathered rim excluded) the host is untouched but for JPEG
                near = np.zeros_like(mask, dtype=bool)
                for dy in range(-4, 5):
                    for dx in range(-4, 5):
                        near |= np.roll(np.roll(mask != 0, dy, axis=0), dx, axis=1)
                self.assertLess(difference[~near].mean(), 4, role["query"])
                for k, donor in enumerate(donors, start=1):
                    inside = mask == k
                    self.assertGreater(inside.sum(), 0, (role["query"], donor))
                    # the donor's object is magenta-ish on a background that is not: pasted pixels changed a lot
                    self.assertGreater(difference[inside].mean(), 25, (role["query"], donor))
                    row = next(d for d in details if d["query"] == role["query"] and int(d["donor_index"]) == k)
                    self.assertEqual(row["donor"], donor)
                    self.assertAlmostEqual(float(row["area_fraction"]), inside.mean(), places=4)
            # the same seed gives the same composites, byte for byte
            for role in roles:
                a, b = (digest(os.path.join(o, "queries", role["query"])) for o in outs)
                self.assertEqual(a, b)


if __name__ == "__main__":
    unittest.main()

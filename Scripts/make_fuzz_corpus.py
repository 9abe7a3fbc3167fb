#!/usr/bin/env python3
"""Seed corpus of the `image` fuzz target, cut from real photos: small crops of darknet's sample
photos and the shared mask photos written as every kind of PNG and JPEG that Loupe decodes (RGB,
gray, palette, 16-bit, alpha; baseline, progressive, gray, 4:2:0 and 4:4:4, with every EXIF
orientation), plus a CMYK JPEG that Loupe refuses. Idempotent: existing files are kept."""
import argparse, io, os
from PIL import Image


def exif_with_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--darknet", required=True, help="folder with darknet's sample photos")
    ap.add_argument("--out", required=True, help="corpus folder of the image target")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    photos = sorted(f for f in os.listdir(a.darknet) if f.endswith(".jpg"))[:4]
    made = 0

    def put(name, data):
        nonlocal made
        path = os.path.join(a.out, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            made += 1

    for i, name in enumerate(photos):
        photo = Image.open(os.path.join(a.darknet, name)).convert("RGB")
        w, h = photo.size
        crop = photo.crop((w // 3, h // 3, w // 3 + 40, h // 3 + 30))
        variants = {
            "rgb": crop, "gray": crop.convert("L"), "palette": crop.convert("P", palette=Image.ADAPTIVE, colors=16),
            "rgba": crop.convert("RGBA"), "gray16": crop.convert("L").point(lambda v: v * 256).convert("I;16"),
        }
        for kind, image in variants.items():
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            put(f"{i}-{kind}.png", buffer.getvalue())
        for kind, options in {"baseline": {}, "progressive": {"progressive": True}, "444": {"subsampling": 0},
                              "q30": {"quality": 30}}.items():
            buffer = io.BytesIO()
            crop.save(buffer, format="JPEG", quality=options.pop("quality", 85), **options)
            put(f"{i}-{kind}.jpg", buffer.getvalue())
        buffer = io.BytesIO()
        crop.convert("L").save(buffer, format="JPEG", quality=85)
        put(f"{i}-gray.jpg", buffer.getvalue())
        if i == 0:
            for orientation in range(1, 9):
                buffer = io.BytesIO()
                crop.save(buffer, format="JPEG", quality=80, exif=exif_with_orientation(orientation))
                put(f"orientation-{orientation}.jpg", buffer.getvalue())
            buffer = io.BytesIO()
            crop.convert("CMYK").save(buffer, format="JPEG", quality=80)
            put("cmyk.jpg", buffer.getvalue())
    print(f"{made} new seeds in {a.out}")


if __name__ == "__main__":
    main()

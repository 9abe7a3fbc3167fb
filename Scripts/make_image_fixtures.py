#!/usr/bin/env python3
"""Generates the image fixtures the Swift tests compare LoupeImage against, with Pillow.

  make_image_fixtures.py --data ../shared/data --darknet .cache/darknet/data --out .cache/fixtures

Writes, into OUT:
  resize/NNN.safetensors   for a deterministic sample of real images: `decoded` (Pillow's RGB
                           decode after exif_transpose, [H, W, 3] U8) and `resized_WxH` (Pillow
                           BILINEAR, i.e. antialiased, from that decode) for several target sizes;
  resize/index.json        fixture -> source path and sizes;
  decode/*.png|jpg         generated special cases (EXIF orientations, palette, gray, alpha,
                           16-bit, interlaced PNGs, gray and progressive JPEGs) next to
                           decode/*.expected.safetensors with the RGB array they must decode to.
Idempotent: a stamp records the script's hash and inputs.
"""
import argparse
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps
from safetensors.numpy import save_file

PER_SET = 14


def sample_images(data_root, darknet):
    picks = []
    for folder in ("smvs-dvd/reference", "smvs-dvd/queries/canon", "smvs-dvd/queries/droid",
                   "flowers17-dev/images", "coil100-20deg/images"):
        path = os.path.join(data_root, folder)
        if not os.path.isdir(path):
            continue
        names = sorted(n for n in os.listdir(path) if n.lower().endswith((".jpg", ".jpeg", ".png")))
        step = max(1, len(names) // PER_SET)
        picks += [os.path.join(path, n) for n in names[::step][:PER_SET]]
    if darknet and os.path.isdir(darknet):
        picks += [os.path.join(darknet, n) for n in sorted(os.listdir(darknet)) if n.endswith(".jpg")]
    return picks


def target_sizes(w, h):
    def longer(side):
        s = side / max(w, h)
        return (side, max(1, round(h * s))) if w >= h else (max(1, round(w * s)), side)
    sizes = {longer(512), longer(224), (97, 61), (w * 2 + 1, h // 3 + 1)}
    return sorted(s for s in sizes if s[0] >= 1 and s[1] >= 1)


def make_resize_fixtures(paths, out):
    folder = os.path.join(out, "resize")
    os.makedirs(folder, exist_ok=True)
    index = {}
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            rgb = ImageOps.exif_transpose(im).convert("RGB")
        tensors = {"decoded": np.asarray(rgb, dtype=np.uint8)}
        sizes = target_sizes(*rgb.size)
        for w, h in sizes:
            tensors[f"resized_{w}x{h}"] = np.asarray(rgb.resize((w, h), Image.BILINEAR), dtype=np.uint8)
        name = f"{i:03d}"
        save_file(tensors, os.path.join(folder, name + ".safetensors"))
        index[name] = {"source": os.path.abspath(path), "sizes": sizes}
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def write_png(path, array, bit_depth, color_type, interlaced=False):
    """A PNG written by hand: 16-bit and Adam7-interlaced files, which Pillow does not write."""
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    dtype = ">u2" if bit_depth == 16 else "u1"

    def scanlines(sub):
        rows = sub.reshape(sub.shape[0], -1).astype(dtype)
        return b"".join(b"\x00" + r.tobytes() for r in rows)

    if not interlaced:
        raw = scanlines(array)
    else:
        raw = b""
        for y0, x0, dy, dx in ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)):
            sub = array[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += scanlines(sub)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlaced else 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))
    del channels


def make_decode_fixtures(darknet, out):
    folder = os.path.join(out, "decode")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(7)

    def expect(name, array):
        save_file({"expected": np.ascontiguousarray(array, dtype=np.uint8)}, os.path.join(folder, name + ".expected.safetensors"))

    # EXIF orientations 1..8 on a real photo: expected = Pillow's exif_transpose
    with Image.open(os.path.join(darknet, "dog.jpg")) as im:
        base = im.convert("RGB").resize((96, 72), Image.BILINEAR)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        path = os.path.join(folder, f"orientation{o}.jpg")
        base.save(path, quality=92, exif=exif.tobytes())
        with Image.open(path) as im:
            expect(f"orientation{o}.jpg", np.asarray(ImageOps.exif_transpose(im).convert("RGB")))
    # gray and progressive JPEGs
    base.convert("L").save(os.path.join(folder, "gray.jpg"), quality=90)
    base.save(os.path.join(folder, "progressive.jpg"), quality=90, progressive=True)
    for name in ("gray.jpg", "progressive.jpg"):
        with Image.open(os.path.join(folder, name)) as im:
            expect(name, np.asarray(im.convert("RGB")))
    # PNG colour types Pillow writes
    rgba = np.concatenate([np.asarray(base), rng.integers(0, 256, (72, 96, 1), dtype=np.uint8)], axis=2)
    variants = {
        "rgba.png": Image.fromarray(rgba, "RGBA"),
        "gray.png": base.convert("L"),
        "gray_alpha.png": Image.fromarray(rgba, "RGBA").convert("LA"),
        "palette.png": base.convert("P", palette=Image.ADAPTIVE, colors=16),
        "bilevel.png": base.convert("1"),
    }
    for name, im in variants.items():
        im.save(os.path.join(folder, name))
        with Image.open(os.path.join(folder, name)) as back:
            expect(name, np.asarray(back.convert("RGB")))
    # palette with transparency
    pal = base.convert("P", palette=Image.ADAPTIVE, colors=8)
    pal.save(os.path.join(folder, "palette_trns.png"), transparency=3)
    with Image.open(os.path.join(folder, "palette_trns.png")) as back:
        expect("palette_trns.png", np.asarray(back.convert("RGB")))
    # 16-bit and interlaced PNGs written by hand; expected: the high byte (what an 8-bit view shows)
    rgb16 = rng.integers(0, 65536, (37, 53, 3), dtype=np.uint16)
    write_png(os.path.join(folder, "rgb16.png"), rgb16, 16, 2)
    expect("rgb16.png", (rgb16 >> 8).astype(np.uint8))
    gray16 = rng.integers(0, 65536, (29, 31), dtype=np.uint16)
    write_png(os.path.join(folder, "gray16.png"), gray16, 16, 0)
    expect("gray16.png", np.repeat((gray16 >> 8).astype(np.uint8)[:, :, None], 3, axis=2))
    rgb8 = np.asarray(base)[:45, :61]
    write_png(os.path.join(folder, "interlaced.png"), rgb8, 8, 2, interlaced=True)
    expect("interlaced.png", rgb8)
    rgba16 = rng.integers(0, 65536, (23, 19, 4), dtype=np.uint16)
    write_png(os.path.join(folder, "rgba16_interlaced.png"), rgba16, 16, 6, interlaced=True)
    expect("rgba16_interlaced.png", (rgba16[:, :, :3] >> 8).astype(np.uint8))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--darknet", default=".cache/darknet/data")
    parser.add_argument("--out", default=".cache/fixtures")
    args = parser.parse_args()
    with open(__file__, "rb") as f:
        stamp_value = hashlib.sha256(f.read() + os.path.abspath(args.data).encode()).hexdigest()
    stamp = os.path.join(args.out, ".stamp")
    if os.path.exists(stamp) and open(stamp).read() == stamp_value:
        return
    paths = sample_images(args.data, args.darknet)
    if not paths:
        sys.exit(f"no images found under {args.data}")
    make_resize_fixtures(paths, args.out)
    make_decode_fixtures(args.darknet, args.out)
    with open(stamp, "w") as f:
        f.write(stamp_value)
    print(f"[fixtures] {len(paths)} resize fixtures and the decode cases in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

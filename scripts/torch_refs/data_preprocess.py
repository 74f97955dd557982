"""torchvision preprocessing references for package data.

usage: data_preprocess.py OUTDIR

Makes a few images with PIL (JPEG at 4:2:0, 4:2:2 and 4:4:4 chroma
subsampling, grey JPEG, RGB, grey, RGBA and palette PNG, lossy WebP; odd
sizes, a tiny one that is upscaled) and writes, for each, what torchvision
0.14 makes of it through the ImageFolder loader (Image.open().convert("RGB")):
the decoded pixels, Resize(256)'s pixels and the whole evaluation pipeline
Resize(256), CenterCrop(224), ToTensor, Normalize(ImageNet's mean and std).
It also writes PIL's decoding of the JPEG fixtures in data/testdata/jpeg
(restart intervals, progressive, unusual sampling), and PIL-only cases that need no decoder parity: resizes to
awkward sizes (both directions, one axis only), resized_crop, center crops
that pad, and F.adjust_brightness/contrast/saturation/hue on a PNG.
Pixel arrays are HWC float32 holding the uint8 values; tensors are CHW.
manifest.json lists every case; data/torchvision_parity_test.go reads it.
"""

# refs-dir: data

import os
import sys

import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageDraw, ImageFilter

from common import fresh_dir, save, seed_of, setup, write_manifest

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def photo(name, w, h):
    """A photo-like RGB image: smooth shading, soft blobs, a few hard
    edges and a little sensor noise, seeded by name."""
    rng = np.random.default_rng(seed_of(name))
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(3):
            fx, fy = rng.uniform(0.5, 4) / w, rng.uniform(0.5, 4) / h
            a[:, :, c] += 40 * np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 6.3))
        a[:, :, c] += rng.uniform(80, 170)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.3) * min(w, h)
        col = rng.uniform(-90, 90, 3)
        a += col * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[:, :, None]
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        x1, y1 = x0 + rng.uniform(0.1, 0.4) * w, y0 + rng.uniform(0.1, 0.4) * h
        d.rectangle([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    d.ellipse([w * 0.6, h * 0.1, w * 0.9, h * 0.45], outline=(250, 240, 20), width=max(1, w // 60))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    a = np.asarray(img).astype(np.float64) + rng.normal(0, 3, (h, w, 3))
    return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), "RGB")


def make_images(out):
    """Writes the source images; returns (file, kind) pairs."""
    files = []

    def add(img, fname, **kw):
        img.save(os.path.join(out, fname), **kw)
        files.append(fname)

    add(photo("a", 500, 375), "photo_500x375_420.jpg", quality=90)  # PIL's default 4:2:0
    add(photo("b", 333, 517), "photo_333x517_422.jpg", quality=92, subsampling=1)
    add(photo("c", 401, 299), "photo_401x299_444.jpg", quality=95, subsampling=0)
    add(photo("d", 37, 50), "tiny_37x50_420.jpg", quality=90)
    add(photo("e", 301, 257).convert("L"), "gray_301x257.jpg", quality=90)
    add(photo("f", 320, 240), "photo_320x240.png")
    add(photo("g", 37, 50), "tiny_37x50.png")
    add(photo("h", 300, 211).convert("L"), "gray_300x211.png")
    rgba = photo("i", 257, 190).convert("RGBA")
    alpha = np.fromfunction(lambda y, x: (x * 255 / 256 + y) % 256, (190, 257)).astype(np.uint8)
    rgba.putalpha(Image.fromarray(alpha, "L"))
    add(rgba, "rgba_257x190.png")
    add(photo("j", 199, 263).quantize(64), "palette_199x263.png")
    add(photo("k", 320, 241), "photo_320x241.webp", quality=85)
    return files


def main(out):
    setup()
    fresh_dir(out)
    manifest = {"images": [], "resize": [], "resized_crop": [], "center_crop": [], "adjust": [], "jpeg_fixtures": []}
    eval_t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)])
    for fname in make_images(out):
        base = os.path.splitext(fname)[0]
        img = Image.open(os.path.join(out, fname)).convert("RGB")  # torchvision's pil_loader
        case = {
            "file": fname,
            "decoded": save(out, base + ".decoded.npy", np.asarray(img)),
            "resized256": save(out, base + ".resized256.npy", np.asarray(T.Resize(256)(img))),
            "eval_256_224": save(out, base + ".eval_256_224.npy", eval_t(img)),
        }
        if fname.startswith("photo_500"):
            inc = T.Compose([T.Resize(342), T.CenterCrop(299), T.ToTensor(), T.Normalize(MEAN, STD)])
            case["eval_342_299"] = save(out, base + ".eval_342_299.npy", inc(img))
        manifest["images"].append(case)

    # Cases on PNG sources, where the decoders agree exactly, so the
    # transforms themselves are compared bit for bit.
    png = Image.open(os.path.join(out, "photo_320x240.png")).convert("RGB")
    gray = Image.open(os.path.join(out, "gray_300x211.png"))  # mode L, one channel
    for src, sname in [(png, "photo_320x240.png"), (gray, "gray_300x211.png")]:
        for i, (w, h) in enumerate([(97, 61), (319, 240), (320, 17), (641, 481), (1000, 37), (7, 5), (320, 240)]):
            r = src.resize((w, h), Image.BILINEAR)
            manifest["resize"].append({"source": sname, "width": w, "height": h,
                                       "file": save(out, f"resize_{os.path.splitext(sname)[0]}_{i}.npy", np.asarray(r))})
    for i, (top, left, h, w) in enumerate([(10, 20, 100, 150), (0, 0, 240, 320), (101, 3, 37, 211)]):
        r = F.resized_crop(png, top, left, h, w, [224, 224])
        manifest["resized_crop"].append({"source": "photo_320x240.png", "top": top, "left": left, "height": h, "width": w,
                                         "size": 224, "file": save(out, f"resized_crop_{i}.npy", np.asarray(r))})
    for i, size in enumerate([225, 250, 300, 17]):
        r = T.CenterCrop(size)(gray)
        manifest["center_crop"].append({"source": "gray_300x211.png", "size": size,
                                        "file": save(out, f"center_crop_{i}.npy", np.asarray(r))})
    rgba = Image.open(os.path.join(out, "rgba_257x190.png")).convert("RGB")
    for src, sname in [(png, "photo_320x240.png"), (rgba, "rgba_257x190.png")]:
        for op, factors in [("brightness", [0.0, 0.37, 1.0, 1.6]),
                            ("contrast", [0.0, 0.5, 1.7]),
                            ("saturation", [0.0, 0.2, 1.9]),
                            ("hue", [-0.5, -0.27, -0.001, 0.1, 0.5])]:
            for k, f in enumerate(factors):
                r = getattr(F, "adjust_" + op)(src, f)
                manifest["adjust"].append({"source": sname, "op": op, "factor": f,
                                           "file": save(out, f"adjust_{os.path.splitext(sname)[0]}_{op}_{k}.npy", np.asarray(r))})
    for op, f in [("contrast", 1.4), ("brightness", 0.8)]:
        r = getattr(F, "adjust_" + op)(gray, f)
        manifest["adjust"].append({"source": "gray_300x211.png", "op": op, "factor": f,
                                   "file": save(out, f"adjust_gray_{op}.npy", np.asarray(r))})
    # JPEG encodings PIL cannot write (restart intervals, 4:4:0 and 4:1:1,
    # RGB, 16-bit tables, progressive variants), made by cjpeg and
    # committed under data/testdata/jpeg: PIL's pixels for each. The files
    # are copied here so that the Go test decodes the bytes PIL decoded.
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "testdata", "jpeg")
    for fname in sorted(os.listdir(fixtures)):
        if not fname.endswith(".jpg"):
            continue
        with open(os.path.join(fixtures, fname), "rb") as f:
            blob = f.read()
        with open(os.path.join(out, "fixture_" + fname), "wb") as f:
            f.write(blob)
        img = Image.open(os.path.join(out, "fixture_" + fname)).convert("RGB")
        manifest["jpeg_fixtures"].append({"file": "fixture_" + fname,
                                          "decoded": save(out, "fixture_" + fname[:-4] + ".decoded.npy", np.asarray(img))})
    manifest["versions"] = {"torch": torch.__version__, "torchvision": __import__("torchvision").__version__,
                            "PIL": Image.__version__}
    write_manifest(out, manifest)


if __name__ == "__main__":
    main(sys.argv[1])

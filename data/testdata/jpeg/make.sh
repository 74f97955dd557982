#!/usr/bin/env bash
# Makes the JPEG fixtures of package data's decoder tests: one small
# photo-like image encoded by libjpeg-turbo's cjpeg/jpegtran in the ways PIL
# cannot encode (restart intervals, 4:4:0 and 4:1:1 sampling, RGB JPEG,
# 16-bit quantisation tables, multi-scan sequential, progressive variants).
# The files are committed; rerun this only to change them:
#   apt-get install libjpeg-turbo-progs && bash data/testdata/jpeg/make.sh
# scripts/torch_refs/data_preprocess.py writes PIL's decoding of each, and
# data's parity test requires our decoder to give the same pixels.
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/src.ppm" "$tmp/gray.pgm" <<'PY'
import sys
from PIL import Image, ImageDraw, ImageFilter
w, h = 61, 47
img = Image.new("RGB", (w, h))
px = img.load()
for y in range(h):
    for x in range(w):
        px[x, y] = ((x * 4 + y) % 256, (y * 5 + 40) % 256, (200 - x * 2 - y) % 256)
d = ImageDraw.Draw(img)
d.rectangle([8, 6, 30, 25], fill=(230, 30, 40))
d.ellipse([30, 15, 58, 44], fill=(20, 60, 220))
d.line([0, 46, 60, 0], fill=(250, 250, 20), width=2)
img = img.filter(ImageFilter.GaussianBlur(0.5))
img.save(sys.argv[1])
img.convert("L").save(sys.argv[2])
PY
src="$tmp/src.ppm"
printf '0: 0 63 0 0;\n1: 0 63 0 0;\n2: 0 63 0 0;\n' >"$tmp/sequential.scans"
cjpeg -quality 85 -restart 1B "$src" >restart1_420.jpg
cjpeg -quality 85 -sample 2x1 -restart 3B "$src" >restart3_422.jpg
cjpeg -quality 85 -progressive "$src" >progressive_420.jpg
cjpeg -quality 85 -progressive -restart 2B "$src" >progressive_restart_420.jpg
cjpeg -quality 85 -progressive -sample 1x1 "$src" >progressive_444.jpg
cjpeg -quality 85 -progressive -grayscale "$src" >progressive_gray.jpg
cjpeg -quality 85 -sample 1x2 "$src" >sample_440.jpg
cjpeg -quality 85 -sample 4x1 "$src" >sample_411.jpg
cjpeg -quality 85 -sample 4x2 "$src" >sample_410.jpg
cjpeg -quality 85 -rgb "$src" >rgb.jpg
cjpeg -quality 2 "$src" >quant16.jpg
cjpeg -quality 85 -optimize -scans "$tmp/sequential.scans" "$src" >multiscan_sequential.jpg
cjpeg -quality 90 -restart 1 "$tmp/gray.pgm" >gray_restart.jpg
ls -l *.jpg

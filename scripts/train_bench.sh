#!/usr/bin/env bash
# Measures convnet's training against PyTorch 1.13 on the same recipe, in
# one run on one machine, and prints a table (also written to
# $OUT/summary.md):
#
#   - resnet20 on the full Fashion-MNIST, EPOCHS (4) epochs, one-cycle
#     (max lr LR=0.1), SGD + Nesterov, weight decay 5e-4, batch 128, random
#     flips and pad-and-crop: test accuracy, seconds per epoch and training
#     images per second, convnet (`convnet train`) beside PyTorch
#     (scripts/torch_train_ref.py), both on THREADS (2) threads;
#   - peak RSS (/usr/bin/time -v) of training resnet20 at batch 128 and
#     resnet50 at batch 32 on 224x224 images (a few steps; PyTorch's
#     resnet50 beside it).
#
# With PROFILE=1 (the default) convnet's run also writes a CPU profile,
# summarised in $OUT/profile.txt (top functions, forward against backward).
# This is a measurement, not a test: run it on a quiet machine, it takes
# about an hour on two cores.
#
#   bash scripts/train_bench.sh
#   EPOCHS=1 LIMIT=6000 bash scripts/train_bench.sh     # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-4}
LR=${LR:-0.1}
THREADS=${THREADS:-2}
LIMIT=${LIMIT:-0}
PROFILE=${PROFILE:-1}
SKIP_TORCH=${SKIP_TORCH:-0}
OUT=${OUT:-out/train_bench/$(date +%Y%m%d-%H%M%S)}

if [ ! -d "$DATA" ]; then
  echo "train_bench: $DATA is missing (Debian: apt-get install dataset-fashion-mnist)" >&2
  exit 1
fi
mkdir -p "$OUT"
# BIN may name a convnet binary built beforehand (the tree may be mid-edit).
if [ -z "${BIN:-}" ]; then
  BIN="$OUT/convnet"
  go build -o "$BIN" ./cmd/convnet
fi
{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "go: $(go version)"
  echo "torch: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
} | tee "$OUT/machine.txt"

prof=()
[ "$PROFILE" = 1 ] && prof=(--cpuprofile "$OUT/go.prof")

echo "== convnet: resnet20, $EPOCHS epochs" >&2
/usr/bin/time -v -o "$OUT/go.time" "$BIN" train resnet20 --data "$DATA" --epochs "$EPOCHS" \
  --schedule onecycle --lr "$LR" --nesterov --batch 128 --threads "$THREADS" \
  --limit-train "$LIMIT" --quiet --out "$OUT/go-run" "${prof[@]}" | tee "$OUT/go.log"

if [ "$SKIP_TORCH" != 1 ]; then
  echo "== PyTorch: resnet20, $EPOCHS epochs" >&2
  /usr/bin/time -v -o "$OUT/torch.time" /usr/bin/python3 scripts/torch_train_ref.py --data "$DATA" \
    --epochs "$EPOCHS" --lr "$LR" --batch 128 --threads "$THREADS" --limit-train "$LIMIT" \
    > "$OUT/torch.jsonl" 2> "$OUT/torch.err"
  cat "$OUT/torch.jsonl"
fi

echo "== peak RSS: resnet20 at batch 128 (8 steps)" >&2
/usr/bin/time -v -o "$OUT/rss-resnet20.time" "$BIN" train resnet20 --data "$DATA" --epochs 1 --batch 128 \
  --limit-train 1024 --limit-test 256 --threads "$THREADS" --quiet --out "$OUT/rss-resnet20" > /dev/null

echo "== peak RSS: resnet50 at batch 32, 224x224 (3 steps)" >&2
/usr/bin/python3 - "$OUT/folder" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(0)
for split, n in (("train", 48), ("val", 16)):
    for c in ("a", "b"):
        os.makedirs(os.path.join(root, split, c), exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(os.path.join(root, split, c, f"{i}.jpg"), quality=90)
EOF
/usr/bin/time -v -o "$OUT/rss-resnet50.time" "$BIN" train resnet50 --data "$OUT/folder" --epochs 1 --batch 32 \
  --limit-train 96 --limit-test 32 --threads "$THREADS" --quiet --out "$OUT/rss-resnet50" > /dev/null
if [ "$SKIP_TORCH" != 1 ]; then
  /usr/bin/time -v -o "$OUT/rss-torch-resnet50.time" /usr/bin/python3 scripts/torch_train_ref.py --probe resnet50 \
    --batch 32 --size 224 --steps 3 --threads "$THREADS" > "$OUT/rss-torch-resnet50.json"
fi

if [ "$PROFILE" = 1 ]; then
  # Parallel kernels run on the pool's goroutines, whose stacks do not
  # reach the caller: forward and backward are told apart by kernel name.
  share() { go tool pprof -top -nodecount=1 -focus="$1" "$BIN" "$OUT/go.prof" 2>/dev/null | grep -m1 'Showing nodes' | sed "s/^/$2: /"; }
  {
    echo "# convnet resnet20 training profile ($EPOCHS epochs, $THREADS threads)"
    share 'Conv2dForward' 'conv forward'
    share 'Conv2dBackwardData' 'conv backward (data)'
    share 'Conv2dBackwardWeight' 'conv backward (weight)'
    share 'Im2col' 'im2col (all passes)'
    share 'Col2im' 'col2im (backward data)'
    share 'sgemm' 'GEMM kernels and packing'
    share 'BatchNorm2d' 'batch norm (forward and backward)'
    share 'clampOp' 'ReLU (forward and backward)'
    share 'SGD' 'optimizer step'
    share 'data\.' 'data loading and augmentation'
    share 'runtime\.(gcBgMarkWorker|mallocgc|memclr)' 'allocation and GC'
    echo
    go tool pprof -top -nodecount=40 "$BIN" "$OUT/go.prof" 2>/dev/null
  } > "$OUT/profile.txt"
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

IMAGES=$LIMIT /usr/bin/python3 - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import json, os, re, sys
out = sys.argv[1]

def jsonl(p):
    if not os.path.exists(p):
        return []
    return [json.loads(l) for l in open(p) if l.strip().startswith("{")]

def rss_mb(p):
    if not os.path.exists(p):
        return None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p).read())
    return int(m.group(1)) / 1024 if m else None

def cpu_s(p):
    if not os.path.exists(p):
        return None
    t = open(p).read()
    u = re.search(r"User time \(seconds\): ([\d.]+)", t)
    s = re.search(r"System time \(seconds\): ([\d.]+)", t)
    return float(u.group(1)) + float(s.group(1)) if u and s else None

def row(name, ms, timefile, images):
    ms = [m for m in ms if "epoch" in m]
    if not ms:
        return f"| {name} | - | - | - | - | - |"
    acc = 100 * (1 - ms[-1]["test_err"])
    spe = sum(m["seconds"] for m in ms) / len(ms)
    # images over the summed training time (a mean of per-epoch rates
    # would overweight fast epochs)
    ips = images * len(ms) / sum(images / m["img_per_s"] for m in ms)
    rss, cpu = rss_mb(timefile), cpu_s(timefile)
    r = f"{rss:.0f}" if rss else "-"
    c = f"{cpu:.0f}" if cpu else "-"
    return f"| {name} | {acc:.2f}% | {spe:.1f} | {ips:.0f} | {c} | {r} |"

print(open(os.path.join(out, "machine.txt")).read())
print("resnet20, full Fashion-MNIST, one-cycle, SGD+Nesterov, batch 128, flip + pad-crop\n")
# training images per epoch: LIMIT, or the full Fashion-MNIST's 60000
go = jsonl(os.path.join(out, "go-run", "metrics.jsonl"))
images = int(os.environ.get("IMAGES", "0")) or 60000
print("| | test accuracy | s/epoch | train img/s | CPU s (user+sys) | peak RSS (MB) |")
print("|---|---|---|---|---|---|")
print(row("convnet", go, os.path.join(out, "go.time"), images))
print(row("PyTorch 1.13", jsonl(os.path.join(out, "torch.jsonl")), os.path.join(out, "torch.time"), images))
print()
print("| peak RSS (MB), a few training steps | convnet | PyTorch |")
print("|---|---|---|")
r20 = rss_mb(os.path.join(out, "rss-resnet20.time"))
r50 = rss_mb(os.path.join(out, "rss-resnet50.time"))
t50 = rss_mb(os.path.join(out, "rss-torch-resnet50.time"))
print(f"| resnet20, batch 128, 28x28 | {r20:.0f} | (full run above) |")
print(f"| resnet50, batch 32, 224x224 | {r50:.0f} | {t50:.0f} |" if t50 else f"| resnet50, batch 32, 224x224 | {r50:.0f} | - |")
EOF

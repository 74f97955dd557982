# refs-dir: ort
"""ONNX Runtime oracle data: squeezenet1_1 with real ImageNet weights as ONNX.

usage: ort_export.py [OUTDIR [WEIGHTS.pth]]

Exports torchvision's squeezenet1_1, loaded (strict) with the real weights
at ../shared/pretrained/squeezenet1_1.pth beside the repository (or
WEIGHTS.pth), through scripts/bench/export_onnx.py, and writes into OUTDIR
(default testdata/torch/ort):
  squeezenet1_1.onnx, .pth, .json   the export (the .json records the
                                    weights' sha256)
  input.npy                         a seeded batch of 2 at 224x224
  torch_logits.npy                  PyTorch's eval-mode logits for it
  manifest.json                     names the files above
internal/orttest runs the ONNX file with ONNX Runtime (scripts/bench/ort_run.js)
and compares its logits with convnet's for the same .pth: a second oracle
beside PyTorch, with an independent implementation of every layer.

Without the weights file it writes a manifest that says so and exits 0, so
that make_refs.sh still makes the other references; the test then skips (or
fails under CI).
"""
import os
import sys

import torch

from common import save, seed_of, setup, write_manifest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
from export_onnx import export, sha256_of  # noqa: E402

MODEL = "squeezenet1_1"
BATCH, SIDE = 2, 224


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "testdata", "torch", "ort")
    weights = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "..", "shared", "pretrained", f"{MODEL}.pth")
    os.makedirs(out, exist_ok=True)
    setup()
    if not os.path.isfile(weights):
        print(f"ort_export: no weights at {weights}: writing no model", file=sys.stderr)
        write_manifest(out, {"missing": f"weights file {os.path.abspath(weights)} not found"})
        return
    model = export(out, MODEL, weights, force=True)
    gen = torch.Generator().manual_seed(seed_of("ort/" + MODEL))
    x = torch.randn(BATCH, 3, SIDE, SIDE, generator=gen)
    with torch.no_grad():
        y = model(x)
    write_manifest(out, {
        "model": MODEL,
        "onnx": f"{MODEL}.onnx",
        "input": save(out, "input.npy", x),
        "torch_logits": save(out, "torch_logits.npy", y),
        "weights_sha256": sha256_of(weights),
    })
    print(f"ort_export: {MODEL} logits {tuple(y.shape)}, max |logit| {y.abs().max().item():.3g}", flush=True)


if __name__ == "__main__":
    main()

"""Exports torchvision models to ONNX for the peer benchmarks and the ORT oracle.

For each model it writes, into OUTDIR:
  NAME.onnx   opset 17, input "input" 1x3x224x224 with a dynamic batch axis,
              output "logits"; eval mode, constant folding on
  NAME.pth    the very same weights as a torch.save state_dict, so that
              convnet (weights.LoadPth) runs exactly what ORT and PyTorch run
  NAME.json   what was exported: opset, torch/torchvision versions, seed,
              weights source and its sha256

Weights are torchvision's own initialisation (weights=None) under a seed
derived from the model's name, unless --weights NAME=PATH gives a state_dict
to load (strict). BatchNorm keeps its initial statistics (mean 0, var 1):
speed does not depend on the values, and parity checks that need exercised
BatchNorm live in scripts/torch_refs/zoo_parity.py.

torch.onnx.export of torch 1.13 needs no `onnx` Python package for opset
<= 17 (it serialises the graph itself; only the optional checker wants onnx).

Usage:
  /usr/bin/python3 scripts/bench/export_onnx.py OUTDIR [NAME ...]
      [--weights NAME=PATH ...] [--opset 17] [--side 224] [--force]
Without NAMEs it exports the benchmark set (DEFAULT_MODELS). A model whose
three files exist with a NAME.json that matches the request is skipped
unless --force.
"""
import argparse
import hashlib
import json
import os
import sys
import zlib

import torch
import torchvision

DEFAULT_MODELS = [
    "resnet18", "resnet50", "vgg16", "mobilenet_v2",
    "squeezenet1_1", "densenet121", "shufflenet_v2_x1_0",
]
DEFAULT_OPSET = 17


def seed_of(name):
    """A stable seed per model name (the same rule as torch_refs/common.py)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(name, weights=None):
    """torchvision's model NAME in eval mode, seeded or loaded from weights."""
    if not hasattr(torchvision.models, name):
        raise SystemExit(f"export_onnx: torchvision {torchvision.__version__} has no model {name!r}")
    torch.manual_seed(seed_of(name))
    kw = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        # Their aux classifiers are training-only; keep the inference graph.
        kw.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**kw)
    if weights:
        sd = torch.load(weights, map_location="cpu")
        model.load_state_dict(sd, strict=True)
    return model.eval()


def request_of(name, weights, opset, side):
    return {
        "model": name,
        "opset": opset,
        "input": [1, 3, side, side],
        "dynamic_axes": {"input": {"0": "batch"}, "logits": {"0": "batch"}},
        "seed": None if weights else seed_of(name),
        "weights": os.path.abspath(weights) if weights else None,
        "weights_sha256": sha256_of(weights) if weights else None,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }


def export(outdir, name, weights=None, opset=DEFAULT_OPSET, side=224, force=False):
    """Writes NAME.onnx, NAME.pth and NAME.json into outdir; returns the model."""
    req = request_of(name, weights, opset, side)
    paths = {ext: os.path.join(outdir, f"{name}.{ext}") for ext in ("onnx", "pth", "json")}
    if not force and all(os.path.isfile(p) for p in paths.values()):
        try:
            with open(paths["json"]) as f:
                if json.load(f) == req:
                    print(f"export_onnx: {name} is up to date", flush=True)
                    return None
        except (OSError, ValueError):
            pass
    model = build(name, weights)
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed_of(name)))
    # Write beside the final names and rename, so an interrupted export
    # never leaves a file that looks complete.
    tmp = {ext: p + ".tmp" for ext, p in paths.items()}
    torch.save(model.state_dict(), tmp["pth"])
    with torch.no_grad():
        torch.onnx.export(
            model, x, tmp["onnx"],
            export_params=True,
            opset_version=opset,
            do_constant_folding=True,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    with open(tmp["json"], "w") as f:
        json.dump(req, f, indent=1, sort_keys=True)
        f.write("\n")
    for ext in ("onnx", "pth", "json"):  # the json last: it marks completion
        os.replace(tmp[ext], paths[ext])
    print(f"export_onnx: {name} -> {paths['onnx']} ({os.path.getsize(paths['onnx']) >> 20} MiB)", flush=True)
    return model


def parse_weights(items):
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"export_onnx: --weights wants NAME=PATH, got {item!r}")
        if not os.path.isfile(path):
            raise SystemExit(f"export_onnx: --weights {name}: no file {path}")
        out[name] = path
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outdir")
    p.add_argument("models", nargs="*", help=f"default: {' '.join(DEFAULT_MODELS)}")
    p.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                   help="load NAME's weights from a torch.save state_dict (strict)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, choices=range(13, 18))
    p.add_argument("--side", type=int, default=224, help="input height and width (default 224)")
    p.add_argument("--force", action="store_true", help="export even when up to date")
    a = p.parse_args(argv)
    weights = parse_weights(a.weights)
    names = a.models or DEFAULT_MODELS
    for name in weights:
        if name not in names:
            raise SystemExit(f"export_onnx: --weights names {name}, which is not being exported")
    os.makedirs(a.outdir, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    for name in names:
        export(a.outdir, name, weights.get(name), a.opset, a.side, a.force)


if __name__ == "__main__":
    sys.exit(main())

"""Times a torchvision model with PyTorch on the CPU and prints one JSON line:
  {"engine":"pytorch","version":"1.13.0","model":...,"batch":B,"threads":T,
   "runs":R,"ms_median":...,"ms_p10":...,"ms_p90":...,"img_per_s":...}

The main number is plain eager mode (model.eval() under torch.no_grad()),
the way most PyTorch inference code runs. --frozen also times the model
after torch.jit.trace, torch.jit.freeze and torch.jit.optimize_for_inference
(BatchNorm folded into convolutions, oneDNN layouts where available) and
adds frozen_ms_median, frozen_ms_p10 and frozen_ms_p90 to the line.

Usage:
  /usr/bin/python3 scripts/bench/torch_bench.py MODEL [--batch B] [--threads T]
      [--runs R] [--warmup W] [--weights NAME.pth] [--side 224] [--frozen]
MODEL is a torchvision builder name; --weights loads a state_dict (such as
the NAME.pth that export_onnx.py writes beside NAME.onnx), otherwise the
weights are torchvision's initialisation under export_onnx's seed.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_onnx import build  # noqa: E402  (one way to build the models)


def summary(ms, prefix=""):
    # numpy.percentile's default (linear) rule, as stats.js for ORT.
    p10, p50, p90 = np.percentile(np.asarray(ms), [10, 50, 90])
    return {f"{prefix}ms_median": round(float(p50), 3),
            f"{prefix}ms_p10": round(float(p10), 3),
            f"{prefix}ms_p90": round(float(p90), 3)}


def time_runs(fn, x, warmup, runs):
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        ms = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn(x)
            ms.append((time.perf_counter() - t0) * 1e3)
    return ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--weights", help="a torch.save state_dict to load (strict)")
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--frozen", action="store_true", help="also time a frozen TorchScript model")
    a = p.parse_args(argv)
    if a.batch < 1 or a.threads < 1 or a.runs < 1 or a.warmup < 0:
        p.error("--batch, --threads and --runs must be positive, --warmup non-negative")

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = build(a.model, a.weights)
    gen = torch.Generator().manual_seed(12345)
    x = torch.rand(a.batch, 3, a.side, a.side, generator=gen) * 2 - 1

    ms = time_runs(model, x, a.warmup, a.runs)
    s = summary(ms)
    line = {
        "engine": "pytorch",
        "version": torch.__version__,
        "model": a.model,
        "batch": a.batch,
        "threads": a.threads,
        "runs": a.runs,
        **s,
        "img_per_s": round(a.batch * 1e3 / s["ms_median"], 2),
    }
    if a.frozen:
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
        line.update(summary(time_runs(frozen, x, a.warmup, a.runs), "frozen_"))
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())

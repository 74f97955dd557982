#!/usr/bin/python3
"""Write models/testdata/torchvision_golden.json: the logits of some
torchvision 0.14 models on a fixed input, with every state_dict entry
filled by a fixed integer hash (no weights files needed), for
models/golden_test.go, which fills convnet's models the same way.

    /usr/bin/python3 scripts/torchvision_golden.py [OUT.json]
"""
import json
import os
import sys

import numpy as np
import torch
from torchvision import models

from torchvision_keys import KWARGS

# Model and input side; the models cover every family's forward code.
GOLDEN = [
    ("alexnet", 64),
    ("vgg11_bn", 32),
    ("googlenet", 64),
    ("inception_v3", 75),
    ("resnet18", 64),
    ("resnet50", 64),
    ("densenet121", 64),
    ("squeezenet1_0", 64),
    ("squeezenet1_1", 64),
    ("mobilenet_v2", 64),
    ("shufflenet_v2_x1_0", 64),
]

INPUT_SEED = 7777
M32 = np.uint64(0xFFFFFFFF)


def hash_uniform(n, seed):
    """n values in [-1, 1): an integer hash of (index, seed), computed
    exactly alike in Go (models/golden_test.go, hashUniform)."""
    h = (np.arange(n, dtype=np.uint64) + np.uint64(seed * 1000003)) & M32
    h = (h * np.uint64(2654435761)) & M32
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(2246822519)) & M32
    h ^= h >> np.uint64(13)
    return h.astype(np.float64) / 2.0**31 - 1.0


def fill(model):
    """Fill the j-th state_dict entry from hash_uniform(numel, j): weights
    of convolutions and linear layers scaled by 2/sqrt(fan_in), BatchNorm
    near identity with some spread, biases small."""
    for j, (key, t) in enumerate(model.state_dict().items()):
        if key.endswith("num_batches_tracked"):
            continue
        u = hash_uniform(t.numel(), j).reshape(tuple(t.shape))
        if key.endswith("running_var"):
            v = 1 + 0.25 * u
        elif key.endswith("running_mean") or key.endswith("bias"):
            v = 0.1 * u
        elif t.dim() == 1:
            v = 1 + 0.1 * u
        else:
            v = u * (2 / np.sqrt(t.numel() // t.shape[0]))
        t.copy_(torch.from_numpy(v.astype(np.float32)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "models", "testdata", "torchvision_golden.json")
    lines = ["{"]
    for i, (name, side) in enumerate(GOLDEN):
        kwargs = dict(KWARGS.get(name, {}), init_weights=False) if name in KWARGS else {}
        model = getattr(models, name)(weights=None, **kwargs).eval()
        fill(model)
        x = torch.from_numpy(hash_uniform(3 * side * side, INPUT_SEED).astype(np.float32)).reshape(1, 3, side, side)
        with torch.no_grad():
            y = model(x).flatten().tolist()
        print(f"{name}: |y| max {max(abs(v) for v in y):.3g}", file=sys.stderr)
        vals = ", ".join(f"{v:.8g}" for v in y)
        lines.append(f' {json.dumps(name)}: {{"side": {side}, "output": [{vals}]}}' + ("," if i < len(GOLDEN) - 1 else ""))
    lines.append("}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.normpath(out)}", file=sys.stderr)


if __name__ == "__main__":
    main()

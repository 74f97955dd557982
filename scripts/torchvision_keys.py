#!/usr/bin/python3
"""Write models/testdata/torchvision_keys.json: the state_dict keys and
shapes, in order, of every torchvision 0.14 model of convnet's zoo.

models/keys_test.go compares convnet's models against this file. Run from
the repository root with Debian's python3-torchvision:

    /usr/bin/python3 scripts/torchvision_keys.py [OUT.json]
"""
import json
import os
import sys

import torch
import torchvision
from torchvision import models

MODELS = [
    "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19",
    "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "googlenet", "inception_v3",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "squeezenet1_0", "squeezenet1_1",
    "mobilenet_v2",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
]

# The auxiliary classifiers are part of torchvision's default (untrained)
# GoogLeNet and Inception v3, and of their checkpoints' keys.
KWARGS = {
    "googlenet": dict(aux_logits=True, init_weights=True),
    "inception_v3": dict(aux_logits=True, init_weights=True),
}


def main():
    if not torchvision.__version__.startswith("0.14"):
        print(f"warning: torchvision {torchvision.__version__}, the zoo follows 0.14", file=sys.stderr)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "models", "testdata", "torchvision_keys.json")
    torch.manual_seed(0)
    entries = []
    for name in MODELS:
        model = getattr(models, name)(weights=None, **KWARGS.get(name, {}))
        keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        entries.append((name, keys))
        print(f"{name}: {len(keys)} keys", file=sys.stderr)
    # One key per line keeps the file reviewable and its diffs small.
    lines = ["{"]
    for i, (name, keys) in enumerate(entries):
        lines.append(f" {json.dumps(name)}: [")
        lines += [f"  {json.dumps(k)}," for k in keys[:-1]] + [f"  {json.dumps(keys[-1])}"]
        lines.append(" ]" + ("," if i < len(entries) - 1 else ""))
    lines.append("}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.normpath(out)}", file=sys.stderr)


if __name__ == "__main__":
    main()

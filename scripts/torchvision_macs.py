#!/usr/bin/python3
"""Print the multiply-accumulates of the convolutions and linear layers of
every torchvision 0.14 model of convnet's zoo on one 3x224x224 image, as
the Go table of models/table_test.go.

    /usr/bin/python3 scripts/torchvision_macs.py
"""
import torch
from torchvision import models

from torchvision_keys import KWARGS, MODELS


def conv_linear_macs(model):
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, torch.nn.Conv2d):
            w = mod.weight.shape
            total += out.numel() * w[1] * w[2] * w[3]
        elif isinstance(mod, torch.nn.Linear):
            total += out.numel() * mod.in_features

    for mod in model.modules():
        mod.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    return total


def main():
    for name in MODELS:
        kwargs = dict(KWARGS.get(name, {}), init_weights=False) if name in KWARGS else {}
        model = getattr(models, name)(weights=None, **kwargs).eval()
        print(f'\t"{name}": {conv_linear_macs(model)},')


if __name__ == "__main__":
    main()

"""Parity references for every torchvision model of the zoo.

For each model: seeded random weights AND randomised BatchNorm statistics and
affine parameters (so eval-mode BN is really exercised), the state_dict saved
with torch.save, a seeded batch of 2 at a resolution the model accepts, and
the eval-mode logits; train-mode logits for resnet18 and densenet121.

Writes testdata/torch/zoo_parity/{name}.pth, {name}_input.npy, {name}_logits.npy
({name}_train_logits.npy) and manifest.json. Usage: zoo_parity.py [OUTDIR [names...]]
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision

MODELS = {
    # name: input resolution
    "alexnet": 64, "vgg11": 32, "vgg13": 32, "vgg16": 32, "vgg19": 32,
    "vgg11_bn": 32, "vgg13_bn": 32, "vgg16_bn": 32, "vgg19_bn": 32,
    "googlenet": 64, "inception_v3": 96,
    "resnet18": 64, "resnet34": 64, "resnet50": 64, "resnet101": 64, "resnet152": 64,
    "densenet121": 64, "densenet161": 64, "densenet169": 64, "densenet201": 64,
    "squeezenet1_0": 64, "squeezenet1_1": 64, "mobilenet_v2": 64,
    "shufflenet_v2_x0_5": 64, "shufflenet_v2_x1_0": 64, "shufflenet_v2_x1_5": 64, "shufflenet_v2_x2_0": 64,
}
TRAIN_MODE = {"resnet18", "densenet121"}


def build(name):
    kw = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        kw.update(aux_logits=True, init_weights=True)
    return getattr(torchvision.models, name)(**kw)


def randomise_bn(model, gen, res):
    """Random affine parameters and running statistics that keep activations
    in range: the running statistics are first calibrated on a random batch
    (one train-mode pass with cumulative averaging), then perturbed, so that
    eval-mode BN differs from batch statistics yet logits stay O(1-10)
    instead of growing through 150 layers of random weights."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            m.reset_running_stats()
            m.momentum = None
        # Inception v3's aux head needs 299-pixel inputs in training mode;
        # it does not run in eval mode, so calibration leaves it out.
        aux = getattr(model, "AuxLogits", None)
        if aux is not None:
            model.AuxLogits = None
        model.train()
        model(torch.randn(4, 3, res, res, generator=gen))
        if aux is not None:
            model.AuxLogits = aux
        for m in bns:
            c = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(c, generator=gen) * 0.1 * std)
            m.running_var.mul_(torch.rand(c, generator=gen) * 0.5 + 0.8)
            m.momentum = 0.1
            m.num_batches_tracked.fill_(7)
        # A deep random ResNet is ill-conditioned in float32: its residual
        # stream grows block after block and the classifier cancels it, so
        # PyTorch's own float32 logits of resnet152 differ from float64 by
        # ~5e-4 of their scale. Scaling the last BatchNorm of each residual
        # branch down (torchvision's zero_init_residual idea, not to zero so
        # the branch is still exercised) keeps the problem well-conditioned,
        # so that a 1e-4 bound tests the engine and not the rounding.
        for mod in model.modules():
            last = getattr(mod, "bn3", None) if hasattr(mod, "conv3") else getattr(mod, "bn2", None)
            if isinstance(last, torch.nn.BatchNorm2d) and hasattr(mod, "downsample"):
                last.weight.mul_(0.2)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "testdata", "torch", "zoo_parity")
    names = sys.argv[2:] or list(MODELS)
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    manifest = {}
    for i, name in enumerate(names):
        res = MODELS[name]
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = build(name)
        randomise_bn(model, gen, res)
        model.eval()
        torch.save(model.state_dict(), os.path.join(out, f"{name}.pth"))
        x = torch.randn(2, 3, res, res, generator=gen)
        np.save(os.path.join(out, f"{name}_input.npy"), x.numpy())
        # The reference is computed in float64: the exact answer that a
        # float32 engine (PyTorch's or ours) approximates.
        with torch.no_grad():
            y = model.double()(x.double()).float()
        model.float()
        np.save(os.path.join(out, f"{name}_logits.npy"), y.numpy())
        entry = {"input": [2, 3, res, res], "pth": f"{name}.pth"}
        if name in TRAIN_MODE:
            model.train()
            with torch.no_grad():
                yt = model.double()(x.double()).float()
            model.float()
            np.save(os.path.join(out, f"{name}_train_logits.npy"), yt.numpy())
            entry["train_logits"] = f"{name}_train_logits.npy"
        manifest[name] = entry
        print(f"zoo_parity: {name} {tuple(y.shape)}", flush=True)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()

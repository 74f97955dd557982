"""Per-layer PyTorch references for convnet's parity tests.

usage: layers.py OUTDIR

For every case it writes OUTDIR/<case>/: the seeded inputs, the layer's
state_dict before the call, the output, a seeded random upstream gradient
(so that every output element matters), the gradients of the inputs and
parameters after output.backward(grad), the state_dict after the call
(BatchNorm's running statistics), and manifest.json naming those files
together with the layer type and its hyper-parameters in torch's keywords.
The Go side (nn/torch_parity_test.go) builds the same layer from the
manifest and compares.
"""

import copy
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import fresh_dir, save, seed_of, setup, write_manifest


def build(spec):
    """Builds the torch module of a spec; None for functional cases."""
    kind, a = spec["layer"], spec.get("args", {})
    if kind == "Conv2d":
        return nn.Conv2d(a["in_channels"], a["out_channels"], tuple(a["kernel_size"]),
                         stride=tuple(a["stride"]), padding=tuple(a["padding"]),
                         dilation=a["dilation"], groups=a["groups"], bias=a["bias"])
    if kind == "Linear":
        return nn.Linear(a["in_features"], a["out_features"], bias=a["bias"])
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "ReLU6":
        return nn.ReLU6()
    if kind == "MaxPool2d":
        return nn.MaxPool2d(a["kernel_size"], stride=tuple(a["stride"]), padding=tuple(a["padding"]),
                            dilation=a["dilation"], ceil_mode=a["ceil_mode"])
    if kind == "AvgPool2d":
        return nn.AvgPool2d(a["kernel_size"], stride=tuple(a["stride"]), padding=tuple(a["padding"]),
                            ceil_mode=a["ceil_mode"], count_include_pad=a["count_include_pad"])
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(tuple(a["output_size"]))
    if kind == "LocalResponseNorm":
        return nn.LocalResponseNorm(a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(a["num_features"], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])
    if kind == "Dropout":
        return nn.Dropout(a["p"])
    if kind == "Flatten":
        return nn.Flatten()
    if kind == "Softmax":
        return nn.Softmax(dim=a["dim"])
    if kind == "LogSoftmax":
        return nn.LogSoftmax(dim=a["dim"])
    if kind == "ChannelShuffle":
        return None
    if kind == "Sequential":
        return nn.Sequential(*[build(s) for s in a["layers"]])
    if kind in ("Add", "Concat", "CrossEntropy"):
        return None
    raise ValueError(kind)


def channel_shuffle(x, groups):
    # torchvision.models.shufflenetv2.channel_shuffle
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(b, -1, h, w)


def functional(spec, xs):
    kind, a = spec["layer"], spec.get("args", {})
    if kind == "ChannelShuffle":
        return channel_shuffle(xs[0], a["groups"])
    if kind == "Add":
        return xs[0] + xs[1]
    if kind == "Concat":
        return torch.cat(xs, 1)
    if kind == "CrossEntropy":
        return F.cross_entropy(xs[0], torch.tensor(spec["targets"]), label_smoothing=a["label_smoothing"])
    raise ValueError(kind)


def randomise(m, gen):
    """Non-default BatchNorm affine parameters and running statistics, so
    that none of them is a neutral 1 or 0."""
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                if mod.affine:
                    mod.weight.copy_(1 + 0.5 * torch.randn(mod.weight.shape, generator=gen))
                    mod.bias.copy_(0.5 * torch.randn(mod.bias.shape, generator=gen))
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=gen))
                mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape, generator=gen))


def run_case(out, name, spec, inputs, training=True, f64=False):
    d = f"{out}/{name}"
    fresh_dir(d)
    seed = seed_of(name)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    m = build(spec)
    if m is not None:
        randomise(m, gen)
        m.train(training)
    xs = [x.detach().clone().requires_grad_(True) for x in inputs]
    man = dict(spec)
    man["training"] = training
    man["inputs"] = [save(d, f"x{i}.npy", x) for i, x in enumerate(xs)]
    m64 = copy.deepcopy(m).double() if f64 and m is not None else None
    if m is not None:
        man["state"] = {k: save(d, f"state_{k}.npy", v) for k, v in m.state_dict().items()}
        y = m(*xs)
    else:
        y = functional(spec, xs)
    gy = torch.randn(y.shape, generator=gen)
    y.backward(gy)
    man["output"] = save(d, "y.npy", y)
    man["grad_output"] = save(d, "gy.npy", gy)
    man["grad_inputs"] = [save(d, f"gx{i}.npy", x.grad) for i, x in enumerate(xs)]
    if m is not None:
        man["grads"] = {k: save(d, f"grad_{k}.npy", p.grad) for k, p in m.named_parameters()}
        man["state_after"] = {k: save(d, f"after_{k}.npy", v) for k, v in m.state_dict().items()}
    if m64 is not None:
        # The same computation in float64: the exact answer, to within
        # float32 rounding of the saved files, for cases where float32
        # PyTorch itself is measurably off.
        xs64 = [x.detach().double().requires_grad_(True) for x in inputs]
        y64 = m64(*xs64)
        y64.backward(gy.double())
        man["f64"] = {
            "output": save(d, "y_f64.npy", y64),
            "grad_inputs": [save(d, f"gx{i}_f64.npy", x.grad) for i, x in enumerate(xs64)],
            "grads": {k: save(d, f"grad_{k}_f64.npy", p.grad) for k, p in m64.named_parameters()},
        }
    write_manifest(d, man)


def randn(name, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed_of(name) + 2)
    return scale * torch.randn(shape, generator=g)


def conv(in_c, out_c, k, stride=1, padding=0, dilation=1, groups=1, bias=True):
    k = list(k) if isinstance(k, (tuple, list)) else [k, k]
    s = list(stride) if isinstance(stride, (tuple, list)) else [stride, stride]
    p = list(padding) if isinstance(padding, (tuple, list)) else [padding, padding]
    return {"layer": "Conv2d", "args": {"in_channels": in_c, "out_channels": out_c, "kernel_size": k,
                                        "stride": s, "padding": p, "dilation": dilation,
                                        "groups": groups, "bias": bias}}


def maxpool(k, stride, padding=0, dilation=1, ceil_mode=False):
    s = list(stride) if isinstance(stride, (tuple, list)) else [stride, stride]
    p = list(padding) if isinstance(padding, (tuple, list)) else [padding, padding]
    return {"layer": "MaxPool2d", "args": {"kernel_size": k, "stride": s, "padding": p,
                                           "dilation": dilation, "ceil_mode": ceil_mode}}


def avgpool(k, stride, padding=0, ceil_mode=False, count_include_pad=True):
    s = list(stride) if isinstance(stride, (tuple, list)) else [stride, stride]
    p = list(padding) if isinstance(padding, (tuple, list)) else [padding, padding]
    return {"layer": "AvgPool2d", "args": {"kernel_size": k, "stride": s, "padding": p,
                                           "ceil_mode": ceil_mode, "count_include_pad": count_include_pad}}


def bn(c, affine=True, momentum=0.1, eps=1e-5):
    return {"layer": "BatchNorm2d", "args": {"num_features": c, "eps": eps, "momentum": momentum, "affine": affine}}


def simple(kind, **args):
    return {"layer": kind, "args": args}


def main(out):
    setup()
    cases = []

    def add(name, spec, shapes, training=True, scale=1.0, inputs=None, f64=False):
        if inputs is None:
            inputs = [randn(f"{name}/{i}", *s, scale=scale) for i, s in enumerate(shapes)]
        cases.append((name, spec, inputs, training, f64))

    # Conv2d: (name, spec, input shape)
    for name, spec, shape in [
        ("conv_basic", conv(3, 4, 3), (2, 3, 7, 7)),
        ("conv_1x1", conv(5, 6, 1), (2, 5, 7, 5)),
        ("conv_1x1_nobias", conv(8, 3, 1, bias=False), (1, 8, 1, 1)),
        ("conv_1x1_s2", conv(4, 6, 1, stride=2), (2, 4, 7, 9)),
        ("conv_p1", conv(3, 5, 3, padding=1), (2, 3, 9, 7)),
        ("conv_p2_nobias", conv(3, 4, 5, padding=2, bias=False), (1, 3, 8, 11)),
        ("conv_p3_k7_s2", conv(3, 4, 7, stride=2, padding=3), (2, 3, 15, 13)),
        ("conv_s2_odd", conv(4, 6, 3, stride=2, padding=1), (2, 4, 11, 8)),
        ("conv_s2_p0", conv(3, 5, 3, stride=2), (3, 3, 10, 9)),
        ("conv_s4_p1", conv(3, 4, 5, stride=4, padding=1), (2, 3, 19, 14)),
        ("conv_dil2", conv(3, 4, 3, dilation=2), (2, 3, 11, 9)),
        ("conv_dil2_p2_s2", conv(4, 4, 3, stride=2, padding=2, dilation=2), (2, 4, 12, 13)),
        ("conv_groups2", conv(4, 6, 3, padding=1, groups=2), (2, 4, 7, 6)),
        ("conv_groups2_s2_nobias", conv(6, 4, 3, stride=2, groups=2, bias=False), (2, 6, 9, 10)),
        ("conv_depthwise", conv(5, 5, 3, padding=1, groups=5), (2, 5, 9, 7)),
        ("conv_depthwise_s2", conv(6, 6, 3, stride=2, padding=1, groups=6, bias=False), (2, 6, 11, 12)),
        ("conv_depthwise_mult2", conv(3, 6, 3, padding=1, groups=3), (2, 3, 8, 7)),
        ("conv_depthwise_mult2_s2_dil2", conv(4, 8, 3, stride=2, padding=2, dilation=2, groups=4), (1, 4, 13, 10)),
        ("conv_depthwise_k5_s4", conv(3, 3, 5, stride=4, padding=2, groups=3), (2, 3, 17, 21)),
        ("conv_alexnet1_small", conv(3, 8, 11, stride=4, padding=2), (1, 3, 39, 39)),
        ("conv_1x7", conv(4, 5, (1, 7), padding=(0, 3)), (2, 4, 9, 11)),
        ("conv_7x1", conv(4, 5, (7, 1), padding=(3, 0)), (2, 4, 9, 11)),
        ("conv_k_eq_input", conv(2, 3, 5), (2, 2, 5, 5)),
        ("conv_wide_k", conv(16, 32, 3, padding=1), (4, 16, 12, 12)),
        ("conv_deep_k576", conv(64, 8, 3, padding=1), (2, 64, 6, 6)),
    ]:
        add(name, spec, [shape])

    for name, spec, shape in [
        ("linear", simple("Linear", in_features=7, out_features=5, bias=True), (3, 7)),
        ("linear_nobias", simple("Linear", in_features=31, out_features=9, bias=False), (4, 31)),
        ("linear_1", simple("Linear", in_features=1, out_features=1, bias=True), (1, 1)),
        ("linear_wide", simple("Linear", in_features=300, out_features=17, bias=True), (5, 300)),
    ]:
        add(name, spec, [shape])

    add("relu", simple("ReLU"), [(2, 3, 5, 7)])
    # ReLU6 around its two kinks: values within 1e-3 of 0 and 6 on both
    # sides, never on them.
    r6 = torch.cat([randn("relu6", 64, scale=4) + 3,
                    torch.tensor([1e-3, -1e-3, 5.999, 6.001, 3e-4, -3e-4, 5.9997, 6.0003])]).reshape(2, 3, 4, 3)
    add("relu6", simple("ReLU6"), None, inputs=[r6])

    for name, spec, shape in [
        ("maxpool_k2s2", maxpool(2, 2), (2, 3, 8, 8)),
        ("maxpool_k2s2_odd", maxpool(2, 2), (2, 3, 7, 9)),
        ("maxpool_k3s2", maxpool(3, 2), (2, 3, 13, 13)),
        ("maxpool_k3s1_p1", maxpool(3, 1, padding=1), (2, 3, 7, 6)),
        ("maxpool_k3s2_p1", maxpool(3, 2, padding=1), (2, 2, 9, 10)),
        ("maxpool_k2s1", maxpool(2, 1), (1, 2, 5, 6)),
        ("maxpool_k3s2_ceil", maxpool(3, 2, ceil_mode=True), (2, 3, 8, 10)),
        ("maxpool_k2s2_ceil_odd", maxpool(2, 2, ceil_mode=True), (2, 3, 7, 9)),
        ("maxpool_k3s2_p1_ceil", maxpool(3, 2, padding=1, ceil_mode=True), (1, 3, 10, 8)),
        ("maxpool_k3s3_ceil", maxpool(3, 3, ceil_mode=True), (2, 2, 7, 11)),
        ("maxpool_dil2", maxpool(3, 1, dilation=2), (2, 2, 9, 8)),
        ("maxpool_dil2_s2_p1_ceil", maxpool(3, 2, padding=1, dilation=2, ceil_mode=True), (2, 2, 10, 11)),
    ]:
        add(name, spec, [shape])

    for name, spec, shape in [
        ("avgpool_k2s2", avgpool(2, 2), (2, 3, 8, 8)),
        ("avgpool_k3s2_odd", avgpool(3, 2), (2, 3, 9, 8)),
        ("avgpool_k3s1_p1_incl", avgpool(3, 1, padding=1), (2, 2, 6, 7)),
        ("avgpool_k3s1_p1_excl", avgpool(3, 1, padding=1, count_include_pad=False), (2, 2, 6, 7)),
        ("avgpool_k3s2_p1_incl", avgpool(3, 2, padding=1), (2, 2, 9, 8)),
        ("avgpool_k3s2_p1_excl", avgpool(3, 2, padding=1, count_include_pad=False), (2, 2, 9, 8)),
        ("avgpool_k2s2_ceil", avgpool(2, 2, ceil_mode=True), (2, 3, 7, 9)),
        ("avgpool_k3s2_p1_ceil_incl", avgpool(3, 2, padding=1, ceil_mode=True), (2, 2, 6, 7)),
        ("avgpool_k3s2_p1_ceil_excl", avgpool(3, 2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 6, 7)),
        ("avgpool_k4s3_p2_ceil_incl", avgpool(4, 3, padding=2, ceil_mode=True), (1, 2, 10, 9)),
    ]:
        add(name, spec, [shape])

    for name, out_size, shape in [
        ("adaptive_1x1", (1, 1), (2, 3, 7, 5)),
        ("adaptive_6x6_from_13", (6, 6), (2, 3, 13, 13)),
        ("adaptive_6x6_from_5", (6, 6), (2, 3, 5, 5)),
        ("adaptive_7x7_from_9x11", (7, 7), (2, 2, 9, 11)),
        ("adaptive_3x2_from_7x5", (3, 2), (1, 2, 7, 5)),
    ]:
        add(name, simple("AdaptiveAvgPool2d", output_size=list(out_size)), [shape])

    for name, args, shape, scale in [
        ("lrn_alexnet_5", dict(size=5, alpha=1e-4, beta=0.75, k=2.0), (2, 7, 5, 4), 3.0),
        ("lrn_alexnet_4", dict(size=4, alpha=1e-4, beta=0.75, k=2.0), (2, 6, 3, 5), 3.0),
        ("lrn_strong_5", dict(size=5, alpha=0.5, beta=0.75, k=1.0), (2, 7, 3, 3), 1.0),
        ("lrn_strong_4", dict(size=4, alpha=0.3, beta=0.6, k=1.5), (2, 9, 2, 3), 1.0),
        ("lrn_size1", dict(size=1, alpha=0.4, beta=0.75, k=1.0), (1, 3, 2, 2), 1.0),
    ]:
        add(name, simple("LocalResponseNorm", **args), [shape], scale=scale)

    for name, spec, shape, training in [
        ("bn_train", bn(4), (3, 4, 5, 6), True),
        ("bn_train_noaffine", bn(3, affine=False), (2, 3, 7, 5), True),
        ("bn_train_momentum03", bn(5, momentum=0.3), (4, 5, 3, 3), True),
        ("bn_train_n1", bn(3), (1, 3, 4, 5), True),
        ("bn_eval", bn(4), (3, 4, 5, 6), False),
        ("bn_eval_noaffine", bn(3, affine=False), (2, 3, 4, 4), False),
    ]:
        add(name, spec, [shape], training=training, scale=2.0)
    # A large mean and a small spread: a one-pass E[x^2]-E[x]^2 variance
    # would lose most digits here.
    # PyTorch computes x*(w*invstd) + (b - mean*w*invstd), which here costs
    # it 3e-5 absolute; the float64 run says who is right.
    add("bn_train_offset", bn(3), None, inputs=[randn("bn_train_offset", 2, 3, 4, 5, scale=0.1) + 50], f64=True)

    add("dropout_p0_train", simple("Dropout", p=0.0), [(2, 3, 4, 5)], training=True)
    add("dropout_p05_eval", simple("Dropout", p=0.5), [(2, 3, 4, 5)], training=False)
    add("flatten", simple("Flatten"), [(2, 3, 4, 5)])
    add("softmax_2d", simple("Softmax", dim=1), [(4, 7)], scale=3.0)
    add("softmax_4d", simple("Softmax", dim=1), [(2, 5, 3, 4)], scale=3.0)
    add("logsoftmax_2d", simple("LogSoftmax", dim=1), [(4, 7)], scale=3.0)
    add("logsoftmax_4d", simple("LogSoftmax", dim=1), [(2, 5, 3, 4)], scale=3.0)
    # Logits far beyond exp's float32 range: only a max-shifted softmax
    # survives.
    add("softmax_2d_large", simple("Softmax", dim=1), [(3, 6)], scale=60.0)
    add("logsoftmax_4d_large", simple("LogSoftmax", dim=1), [(2, 4, 2, 3)], scale=60.0)

    for name, ls, n, c, scale in [("ce", 0.0, 6, 5, 2.0), ("ce_ls01", 0.1, 6, 5, 2.0), ("ce_ls01_big", 0.1, 9, 17, 2.0),
                                  ("ce_large_logits", 0.1, 4, 7, 50.0)]:
        spec = simple("CrossEntropy", label_smoothing=ls)
        g = torch.Generator().manual_seed(seed_of(name) + 3)
        spec["targets"] = torch.randint(0, c, (n,), generator=g).tolist()
        add(name, spec, [(n, c)], scale=scale)

    add("add", simple("Add"), [(2, 3, 5, 4), (2, 3, 5, 4)])
    add("concat3", simple("Concat"), [(2, 3, 4, 5), (2, 1, 4, 5), (2, 4, 4, 5)])
    add("channel_shuffle_g2", simple("ChannelShuffle", groups=2), [(2, 6, 3, 4)])
    add("channel_shuffle_g3", simple("ChannelShuffle", groups=3), [(2, 12, 2, 3)])

    seq = {"layer": "Sequential", "args": {"layers": [
        conv(3, 4, 3, padding=1), bn(4), simple("ReLU"), maxpool(2, 2), simple("Flatten"),
        simple("Linear", in_features=36, out_features=5, bias=True)]}}
    add("sequential", seq, [(2, 3, 7, 7)])

    for name, spec, inputs, training, f64 in cases:
        run_case(out, name, spec, inputs, training, f64)
    print(f"layers.py: wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/torch/layers")

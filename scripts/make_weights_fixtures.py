#!/usr/bin/env python3
"""Writes the fixtures of the weights package's tests into weights/testdata/.

Run from the repository root with Debian's PyTorch (python3-torch, 1.13):

    /usr/bin/python3 scripts/make_weights_fixtures.py

It saves small checkpoints with torch.save (zip and legacy formats, protocol
2 and 4 pickles, non-contiguous views, several dtypes, a training checkpoint
that wraps a DataParallel state_dict), a few .npy arrays with numpy, and
expected.json with what PyTorch/numpy see in each file: keys in order, shapes,
dtypes, sums and the first values of every tensor. The output is
deterministic, so re-running it should not change the committed files
(apart from the legacy files' storage keys, which torch derives from memory
addresses; their expected values do not depend on them).
"""
import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "weights", "testdata")


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(x.mean((2, 3)))


def describe(t):
    t = t.detach()
    flat = t.reshape(-1).to(torch.float64)
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype).replace("torch.", ""),
        "sum": float(flat.sum()) if flat.numel() else 0.0,
        "abs_sum": float(flat.abs().sum()) if flat.numel() else 0.0,
        "first": [float(v) for v in flat[:8]],
        "contiguous": t.is_contiguous(),
    }


def describe_sd(sd):
    return {"keys": list(sd.keys()), "tensors": {k: describe(v) for k, v in sd.items()}}


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    expected = {"torch_version": torch.__version__, "pth": {}, "npy": {}}

    model = TinyNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for _ in range(2):  # gives the BatchNorm running stats and momentum real values
        loss = model(torch.randn(2, 3, 5, 5)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    sd = model.state_dict()

    def save(name, obj, sd_view, **kw):
        torch.save(obj, os.path.join(OUT, name), **kw)
        # What torch.load gives back is the reference, not what was saved.
        back = torch.load(os.path.join(OUT, name))
        expected["pth"][name] = describe_sd(sd_view(back))

    save("convbn_zip.pth", sd, lambda o: o)
    save("convbn_legacy.pth", sd, lambda o: o, _use_new_zipfile_serialization=False)
    save("convbn_proto4.pth", sd, lambda o: o, pickle_protocol=4)

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1
    views = {
        "transposed": base.t(),                      # stride (1, 6)
        "sliced": base[1:3, 2:5],                    # offset 8, stride (6, 1)
        "strided": base[::2, ::3],                   # stride (12, 3)
        "expanded": torch.arange(3.0).expand(4, 3),  # stride (0, 1)
        "offset_vector": base.reshape(-1)[5:11],     # storage offset 5
        "scalar": torch.tensor(2.5),                 # 0-dim
        "empty": torch.zeros(0, 3),
        "permuted": torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1),
    }
    for k, v in views.items():
        assert k in ("scalar", "empty", "offset_vector", "expanded") or not v.is_contiguous() or k == "sliced", k
    save("views_zip.pth", views, lambda o: o)
    save("views_legacy.pth", views, lambda o: o, _use_new_zipfile_serialization=False)

    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64)
    dtypes = {
        "f64": x,
        "f16": x.to(torch.float16),
        "bf16": x.to(torch.bfloat16),
        "i64": torch.tensor([-3, 0, 7, 1 << 40]),
        "i32": torch.tensor([[1, -2], [3, -4]], dtype=torch.int32),
        "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "f16_special": torch.tensor([65504.0, -0.0, 6e-8, 1e-5, -2.0], dtype=torch.float16),
    }
    save("dtypes.pth", dtypes, lambda o: o)

    wrapped = {
        "epoch": 3,
        "state_dict": {"module." + k: v for k, v in sd.items()},
        "optimizer": opt.state_dict(),
        "best_acc": 0.75,
        "arch": "tinynet",
        "tags": ["a", None, True, (1, 2.5)],
    }
    save("checkpoint.pth", wrapped,
         lambda o: {k[len("module."):]: v for k, v in o["state_dict"].items()})
    save("checkpoint_model.pth", {"model": sd, "epoch": 3}, lambda o: o["model"])

    arrays = {
        "f4.npy": np.arange(24, dtype="<f4").reshape(2, 3, 4) / 7,
        "f8_be.npy": (np.arange(6, dtype=">f8") - 2.5).reshape(3, 2),
        "f2.npy": np.array([1.5, -2.25, 65504], dtype="<f2"),
        "i8.npy": np.array([[-1, 2], [3, 1 << 33]], dtype="<i8"),
        "i4.npy": np.array([7, -8], dtype="<i4"),
        "f4_be.npy": np.array([0.5, -1.0, 3.25], dtype=">f4"),
        "scalar.npy": np.array(4.5, dtype="<f4"),
        "empty.npy": np.zeros((0, 2), dtype="<f4"),
    }
    for name, a in arrays.items():
        np.save(os.path.join(OUT, name), a)
        back = np.load(os.path.join(OUT, name))
        flat = back.reshape(-1).astype(np.float64)
        expected["npy"][name] = {
            "shape": list(back.shape),
            "descr": back.dtype.str,
            "sum": float(flat.sum()),
            "first": [float(v) for v in flat[:8]],
        }
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
    with open(os.path.join(OUT, "v3.npy"), "wb") as f:  # format 3.0 (utf-8 header)
        np.lib.format.write_array(f, np.arange(4, dtype="<f4"), version=(3, 0))
    expected["npy"]["v3.npy"] = {"shape": [4], "descr": "<f4", "sum": 6.0, "first": [0.0, 1.0, 2.0, 3.0]}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT)
                if os.path.isfile(os.path.join(OUT, n)))
    print(f"wrote fixtures to {os.path.normpath(OUT)} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

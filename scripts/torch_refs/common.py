"""Shared helpers of the PyTorch reference generators.

Every case is a directory holding .npy files (float32, little endian) and a
manifest.json that names them; the Go parity tests read only those.
"""

import json
import os
import shutil
import zlib

import numpy as np
import torch


def seed_of(name):
    """A stable seed per case name, so adding a case changes no other."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def fresh_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def save(dirname, fname, t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    # np.asarray keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d).
    np.save(os.path.join(dirname, fname), np.asarray(a, dtype="<f4", order="C"))
    return fname


def write_manifest(dirname, manifest):
    with open(os.path.join(dirname, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def setup():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

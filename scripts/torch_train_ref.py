#!/usr/bin/python3
"""PyTorch 1.13 twin of `convnet train` for scripts/train_bench.sh: the same
network (the ResNet paper's CIFAR resnet20 with 1x1 projection shortcuts, as
models/cifar.go builds it, He-initialised like torchvision's ResNet), the same
data pipeline (RandomCrop(28, padding=3), RandomHorizontalFlip, ToTensor,
Normalize with Fashion-MNIST's statistics), the same optimizer (SGD, momentum
0.9, Nesterov, weight decay 5e-4) and the same one-cycle schedule, stepped
after every batch. It prints one JSON object per epoch with the keys of
convnet's metrics.jsonl, and the process's peak RSS at the end.

    /usr/bin/python3 scripts/torch_train_ref.py --data /usr/share/datasets/fashion-mnist --epochs 4
    /usr/bin/python3 scripts/torch_train_ref.py --probe resnet50   # peak RSS of 3 steps at 224x224, batch 32
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision import transforms
from torchvision.models.resnet import BasicBlock


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        b = f.read()
    ndim = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(root, name):
    for n in (name + ".gz", name):
        if os.path.exists(os.path.join(root, n)):
            return os.path.join(root, n)
    raise FileNotFoundError(os.path.join(root, name))


class IDX(torch.utils.data.Dataset):
    def __init__(self, root, train, transform, limit=0):
        p = "train" if train else "t10k"
        self.x = read_idx(find(root, p + "-images-idx3-ubyte"))
        self.y = read_idx(find(root, p + "-labels-idx1-ubyte")).astype(np.int64)
        if limit:
            idx = [k * len(self.y) // limit for k in range(limit)]
            self.x, self.y = self.x[idx], self.y[idx]
        self.transform = transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i], mode="L")), int(self.y[i])


class CIFARResNet(nn.Module):
    """resnet20 (n=3): conv3x3(16), three stages of n BasicBlocks at 16, 32,
    64 filters, projection (1x1 conv + BN) shortcuts where the shape changes,
    global average pooling, fc."""

    def __init__(self, n=3, in_channels=1, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = 16
        self.layer1 = self._stage(16, n, 1)
        self.layer2 = self._stage(32, n, 2)
        self.layer3 = self._stage(64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _stage(self, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def vmhwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def evaluate(model, loader, crit):
    model.eval()
    loss, wrong, seen = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss += crit(out, y).item() * len(y)
            wrong += (out.argmax(1) != y).sum().item()
            seen += len(y)
    model.train()
    return loss / seen, wrong / seen


def probe(args):
    """Peak RSS of a few training steps of a torchvision model."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.probe)(num_classes=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    crit = nn.CrossEntropyLoss()
    model.train()
    t0 = time.time()
    for _ in range(args.steps):
        x = torch.randn(args.batch, 3, args.size, args.size)
        y = torch.randint(0, 2, (args.batch,))
        opt.zero_grad()
        crit(model(x), y).backward()
        opt.step()
    print(json.dumps({"probe": args.probe, "batch": args.batch, "size": args.size, "steps": args.steps,
                      "seconds_per_step": (time.time() - t0) / args.steps, "vmhwm_kb": vmhwm_kb()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--schedule", default="onecycle", choices=["onecycle", "constant"])
    ap.add_argument("--no-nesterov", action="store_true")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--probe", default="", help="torchvision model name: measure peak RSS of a few steps instead")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.probe:
        if args.batch == 128:
            args.batch = 32
        probe(args)
        return
    torch.manual_seed(args.seed)
    norm = transforms.Normalize((0.2860,), (0.3530,))
    train_t = transforms.Compose([transforms.RandomCrop(28, padding=3), transforms.RandomHorizontalFlip(), transforms.ToTensor(), norm])
    if args.no_augment:
        train_t = transforms.Compose([transforms.ToTensor(), norm])
    test_t = transforms.Compose([transforms.ToTensor(), norm])
    train_ds = IDX(args.data, True, train_t, args.limit_train)
    test_ds = IDX(args.data, False, test_t, args.limit_test)
    train_ld = torch.utils.data.DataLoader(train_ds, batch_size=args.batch, shuffle=True, num_workers=args.workers)
    test_ld = torch.utils.data.DataLoader(test_ds, batch_size=args.batch, num_workers=args.workers)
    model = CIFARResNet()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=not args.no_nesterov, weight_decay=5e-4)
    if args.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(train_ld))
    else:
        sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    crit = nn.CrossEntropyLoss()
    step = 0
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        loss_sum, wrong, seen = 0.0, 0, 0
        for x, y in train_ld:
            lr = opt.param_groups[0]["lr"]
            out = model(x)
            loss = crit(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_sum += loss.item() * len(y)
            wrong += (out.argmax(1) != y).sum().item()
            seen += len(y)
        train_s = time.time() - t0
        test_loss, test_err = evaluate(model, test_ld, crit)
        print(json.dumps({"epoch": epoch, "train_loss": loss_sum / seen, "train_err": wrong / seen,
                          "test_loss": test_loss, "test_err": test_err, "lr": lr,
                          "seconds": time.time() - t0, "img_per_s": seen / train_s, "step": step}), flush=True)
    print(json.dumps({"vmhwm_kb": vmhwm_kb(), "torch": torch.__version__, "threads": torch.get_num_threads()}), file=sys.stderr)


if __name__ == "__main__":
    main()

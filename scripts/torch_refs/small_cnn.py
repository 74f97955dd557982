"""Training-parity reference: a small CNN trained with torch.optim.SGD.

usage: small_cnn.py OUTDIR

The network has every kind of merge convnet must get right in backward:
conv-BN-ReLU-maxpool, a residual block (add), two convolution branches
concatenated, adaptive average pooling, flatten and a linear classifier.
It is initialised by PyTorch (the initial state_dict is saved as .npy per
key), trained for STEPS steps on one fixed synthetic batch, and the loss at
every step plus the final state_dict (weights and BatchNorm buffers) and
the eval-mode logits are saved, once with classical momentum and once with
Nesterov. nn/train_parity_test.go replays this in Go.
"""

import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import fresh_dir, save, seed_of, setup, write_manifest

STEPS = 10
LR, MOMENTUM, WEIGHT_DECAY = 0.05, 0.9, 5e-4


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class Branches(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c // 2, 1)
        self.b = nn.Conv2d(c, c // 2, 3, padding=1)

    def forward(self, x):
        return F.relu(torch.cat([self.a(x), self.b(x)], 1))


class SmallCNN(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2, 2)
        self.layer1 = Residual(8)
        self.branches = Branches(8)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.branches(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main(out):
    setup()
    torch.manual_seed(seed_of("small_cnn"))
    init = SmallCNN()
    g = torch.Generator().manual_seed(seed_of("small_cnn/data"))
    x = torch.randn(8, 3, 16, 16, generator=g)
    targets = torch.randint(0, 5, (8,), generator=g)
    for run, nesterov in [("momentum", False), ("nesterov", True)]:
        d = f"{out}/{run}"
        fresh_dir(d)
        m = SmallCNN()
        m.load_state_dict(init.state_dict())
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, nesterov=nesterov)
        man = {"steps": STEPS, "lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY,
               "nesterov": nesterov, "targets": targets.tolist(), "input": save(d, "x.npy", x),
               "init": {k: save(d, f"init_{k}.npy", v) for k, v in init.state_dict().items()}}
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss = F.cross_entropy(m(x), targets)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        man["losses"] = losses
        man["final"] = {k: save(d, f"final_{k}.npy", v) for k, v in m.state_dict().items()}
        m.eval()
        with torch.no_grad():
            man["eval_logits"] = save(d, "eval_logits.npy", m(x))
        write_manifest(d, man)
    print(f"small_cnn.py: wrote 2 runs of {STEPS} steps to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/torch/small_cnn")

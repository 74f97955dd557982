#!/usr/bin/python3
"""Writes train/testdata/schedules.json: learning rates (and one-cycle's
momentum) computed by torch.optim.lr_scheduler (PyTorch 1.13), the
reference for train/schedule_test.go. Run from the repository root:

    /usr/bin/python3 scripts/torch_sched_ref.py

Each case's "config" is a train.ScheduleConfig as JSON. Epoch schedules
record the learning rate in force during each epoch (the optimizer's lr
before the epoch's scheduler.step); one-cycle records it before every
optimizer step, with the momentum.
"""
import json
import math
import os
import warnings

import torch
from torch.optim import lr_scheduler as L

warnings.filterwarnings("ignore")


def optimizer(lr, momentum=0.9):
    p = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([p], lr=lr, momentum=momentum)


def lr_of(opt):
    return opt.param_groups[0]["lr"]


def main_scheduler(opt, c):
    kind = c["kind"]
    gamma = c.get("gamma") or 0.1
    if kind == "step":
        if c.get("milestones"):
            return L.MultiStepLR(opt, milestones=c["milestones"], gamma=gamma)
        return L.StepLR(opt, step_size=c["step_size"], gamma=gamma)
    if kind == "cosine":
        return L.CosineAnnealingLR(opt, T_max=c["epochs"] - c.get("warmup_epochs", 0))
    if kind == "constant":
        return L.ConstantLR(opt, factor=1.0, total_iters=0)
    raise ValueError(kind)


def epoch_case(name, c, metrics=None):
    opt = optimizer(c["lr"])
    warm = c.get("warmup_epochs", 0)
    lrs = []
    if c["kind"] == "plateau":
        # ReduceLROnPlateau cannot sit in SequentialLR: the warm-up is a
        # LinearLR for the first epochs, then the plateau logic watches
        # the accuracy from the end of the warm-up on.
        wsched = L.LinearLR(opt, start_factor=c.get("warmup_decay") or 0.01, total_iters=warm) if warm else None
        plateau = L.ReduceLROnPlateau(opt, mode="max", factor=c.get("factor") or 0.1, patience=c["patience"],
                                      threshold=c.get("threshold") or 1e-4)
        for e in range(c["epochs"]):
            lrs.append(lr_of(opt))
            if e < warm:
                wsched.step()
            else:
                plateau.step(metrics[e])
    else:
        sched = main_scheduler(opt, c)
        if warm:
            w = L.LinearLR(opt, start_factor=c.get("warmup_decay") or 0.01, total_iters=warm)
            sched = L.SequentialLR(opt, schedulers=[w, sched], milestones=[warm])
        for e in range(c["epochs"]):
            lrs.append(lr_of(opt))
            sched.step()
    out = {"name": name, "config": c, "lr": lrs}
    if metrics is not None:
        out["metrics"] = metrics
    return out


def onecycle_case(name, c):
    opt = optimizer(c["lr"])
    sched = L.OneCycleLR(opt, max_lr=c["lr"], epochs=c["epochs"], steps_per_epoch=c["steps_per_epoch"],
                         pct_start=c.get("pct_start") or 0.3, anneal_strategy="cos",
                         div_factor=c.get("div_factor") or 25.0, final_div_factor=c.get("final_div_factor") or 1e4,
                         cycle_momentum=not c.get("no_cycle_momentum", False))
    lrs, moms = [], []
    for _ in range(c["epochs"] * c["steps_per_epoch"]):
        lrs.append(lr_of(opt))
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        sched.step()
    return {"name": name, "config": c, "lr": lrs, "momentum": moms}


def main():
    # Test accuracies: rising, a plateau, improvements below the 1e-4
    # relative threshold, a jump, a long plateau.
    acc = [0.50, 0.60, 0.65, 0.65, 0.64, 0.65, 0.650001, 0.70, 0.70, 0.70,
           0.70, 0.71, 0.71, 0.71, 0.71, 0.71, 0.71, 0.72, 0.72, 0.72]
    cases = [
        epoch_case("plateau_p2", {"kind": "plateau", "lr": 0.01, "epochs": 20, "steps_per_epoch": 10, "patience": 2, "factor": 0.1}, acc),
        epoch_case("plateau_p0", {"kind": "plateau", "lr": 0.1, "epochs": 20, "steps_per_epoch": 10, "patience": 0, "factor": 0.5}, acc),
        epoch_case("plateau_warmup3", {"kind": "plateau", "lr": 0.01, "epochs": 20, "steps_per_epoch": 10, "patience": 1, "factor": 0.1,
                                       "warmup_epochs": 3, "warmup_decay": 0.1}, acc),
        epoch_case("step_3", {"kind": "step", "lr": 0.1, "epochs": 12, "steps_per_epoch": 10, "patience": 0, "step_size": 3}),
        epoch_case("multistep", {"kind": "step", "lr": 0.05, "epochs": 12, "steps_per_epoch": 10, "patience": 0, "milestones": [3, 7, 8], "gamma": 0.2}),
        epoch_case("step_warmup2", {"kind": "step", "lr": 0.1, "epochs": 12, "steps_per_epoch": 10, "patience": 0, "step_size": 4, "warmup_epochs": 2}),
        epoch_case("cosine", {"kind": "cosine", "lr": 0.1, "epochs": 15, "steps_per_epoch": 10, "patience": 0}),
        epoch_case("cosine_warmup3", {"kind": "cosine", "lr": 0.02, "epochs": 15, "steps_per_epoch": 10, "patience": 0, "warmup_epochs": 3, "warmup_decay": 0.05}),
        epoch_case("constant", {"kind": "constant", "lr": 0.01, "epochs": 5, "steps_per_epoch": 10, "patience": 0}),
        onecycle_case("onecycle_4x7", {"kind": "onecycle", "lr": 0.1, "epochs": 4, "steps_per_epoch": 7, "patience": 0}),
        onecycle_case("onecycle_3x50", {"kind": "onecycle", "lr": 0.4, "epochs": 3, "steps_per_epoch": 50, "patience": 0}),
        onecycle_case("onecycle_nomomentum", {"kind": "onecycle", "lr": 0.05, "epochs": 2, "steps_per_epoch": 9, "patience": 0,
                                              "pct_start": 0.25, "div_factor": 10, "final_div_factor": 100, "no_cycle_momentum": True}),
    ]
    out = {"generator": "scripts/torch_sched_ref.py", "torch": torch.__version__, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train", "testdata", "schedules.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path), len(cases), "cases")


if __name__ == "__main__":
    main()

// Package parity holds end-to-end parity suites: every torchvision model of
// the zoo, loaded from a checkpoint torch.save wrote, must give the logits
// torchvision gives on the same input. The references come from
// scripts/torch_refs/zoo_parity.py (run by scripts/make_refs.sh); the
// package has no code of its own beyond its tests.
package parity

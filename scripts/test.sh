#!/usr/bin/env bash
# Runs convnet's whole test suite on a fresh machine: installs what the
# tests need when it is missing (Debian's python3-torch and
# python3-torchvision, the PyTorch oracle; the Fashion-MNIST package; the
# npm package onnxruntime-node),
# writes the PyTorch reference files, then runs go vet and every Go test,
# with the race detector on the engine packages.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_need=()
/usr/bin/python3 -c 'import torch, torchvision, numpy' 2>/dev/null || apt_need+=(python3-torch python3-torchvision python3-numpy)
[ -d /usr/share/datasets/fashion-mnist ] || apt_need+=(dataset-fashion-mnist)
command -v node >/dev/null && command -v npm >/dev/null || apt_need+=(nodejs npm)
if ((${#apt_need[@]})); then
  echo "test.sh: installing ${apt_need[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_need[@]}" >/dev/null
fi

# ONNX Runtime (npm onnxruntime-node, --ignore-scripts: its CPU library ships
# in the package) is the second oracle and the speed peer.
bash scripts/bench/setup.sh
bash scripts/make_refs.sh

/usr/bin/python3 -m unittest discover -s scripts/bench -p 'test_*.py'
go vet ./...
go test -count=1 -timeout 60m ./...
go test -count=1 -race -short -timeout 30m ./tensor/... ./autograd/ ./nn/ ./data/ ./weights/

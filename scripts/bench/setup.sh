#!/usr/bin/env bash
# Installs the node side of the peer benchmarks (onnxruntime-node, pinned
# in package.json and package-lock.json) into scripts/bench/node_modules.
# Idempotent and quiet: when the pinned version is already there it does
# nothing and prints nothing. --ignore-scripts because the package's
# install script only downloads GPU libraries; the CPU library ships inside
# the package.
#
#   bash scripts/bench/setup.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null || { echo "setup.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is not installed" >&2; exit 1; }

want="$(node -p 'require("./package.json").dependencies["onnxruntime-node"]')"
have="$(node -p 'try { require("onnxruntime-node/package.json").version } catch (e) { "" }' 2>/dev/null || true)"
if [[ "$have" == "$want" ]] && node -e 'require("onnxruntime-node")' 2>/dev/null; then
	exit 0
fi
if [[ -f package-lock.json ]]; then
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
else
	npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi
node -e 'require("onnxruntime-node")' || { echo "setup.sh: onnxruntime-node $want installed but does not load" >&2; exit 1; }

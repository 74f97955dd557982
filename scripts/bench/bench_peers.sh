#!/usr/bin/env bash
# Measures convnet against its peers on this machine, in one run, one engine
# at a time (never two at once: they would share the cores), and prints a
# markdown table of medians and ratios (peer ms / convnet ms: > 1 means
# convnet is faster). Each model and batch runs in ROUNDS rounds, each a
# fresh convnet process and a fresh ONNX Runtime process that take TURNS
# turns each, alternately, between them RUNS timed passes per engine
# (paired.py: one untimed pass opens a turn, and an engine's threads go
# quiet before the other's turn), so that the host's changes of speed,
# which last from seconds to minutes, hit both engines alike: the table
# gives each engine's median over the rounds and the median of the
# per-round ratios ORT/convnet with their range. PyTorch, many times slower
# on most models, runs alone in the first round only. Every model runs the same weights in all three
# engines where the engine can load them: export_onnx.py writes NAME.onnx
# for ONNX Runtime and NAME.pth for PyTorch from one torchvision model.
#
#   bash scripts/bench/bench_peers.sh [--models "resnet18 vgg16"] [--batches "1 16"]
#       [--threads 2] [--runs 10] [--turns 5] [--warmup 3] [--rounds 3] [--out out/bench]
#
# Writes OUT/models/ (the exported models, reused while up to date),
# OUT/peers-DATE.jsonl (one JSON line per engine, model and batch, errors
# included) and OUT/peers-DATE.md (the table, also printed).
#
# convnet runs as `convnet bench MODEL --batch B --threads T --format json`
# from a binary built once into a temporary directory; until that subcommand
# exists its column says n/a. Needs node and npm (setup.sh installs
# onnxruntime-node) and /usr/bin/python3 with torch and torchvision
# (PYTHON overrides).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
here=scripts/bench
py="${PYTHON:-/usr/bin/python3}"

models="resnet18 resnet50 vgg16 mobilenet_v2 squeezenet1_1 densenet121 shufflenet_v2_x1_0"
batches="1 16"
threads=2
runs=10
warmup=3
rounds=3
turns=5
out=out/bench

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--models) models="$2"; shift 2 ;;
	--batches) batches="$2"; shift 2 ;;
	--threads) threads="$2"; shift 2 ;;
	--runs) runs="$2"; shift 2 ;;
	--warmup) warmup="$2"; shift 2 ;;
	--rounds) rounds="$2"; shift 2 ;;
	--turns) turns="$2"; shift 2 ;;
	--out) out="$2"; shift 2 ;;
	-h | --help) usage ;;
	*) echo "bench_peers: unknown argument $1" >&2; usage ;;
	esac
done
for n in "$threads" "$runs" "$rounds" "$turns"; do
	[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench_peers: --threads, --runs, --turns and --rounds want positive integers" >&2; exit 2; }
done
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "bench_peers: --warmup wants a non-negative integer" >&2; exit 2; }

log() { echo "bench_peers: $*" >&2; }

bash "$here/setup.sh"
mkdir -p "$out/models"
# shellcheck disable=SC2086 # $models is a list
"$py" "$here/export_onnx.py" "$out/models" $models >&2

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
convnet=""
if go build -o "$tmp/convnet" ./cmd/convnet 2>"$tmp/build.log"; then
	if "$tmp/convnet" bench --help >"$tmp/help.txt" 2>&1; then
		convnet="$tmp/convnet"
	else
		log "convnet has no bench subcommand yet: its column is n/a"
	fi
else
	log "go build ./cmd/convnet failed, convnet's column is n/a:"
	sed 's/^/  /' "$tmp/build.log" >&2
fi
convnet_flags=()
paired=""
if [[ -n "$convnet" ]]; then
	grep -q -- '--runs' "$tmp/help.txt" && convnet_flags+=(--runs "$runs")
	grep -q -- '--warmup' "$tmp/help.txt" && convnet_flags+=(--warmup "$warmup")
	grep -q -- '--serve' "$tmp/help.txt" && paired=1
fi

stamp="$(date +%Y%m%dT%H%M%S)"
jsonl="$out/peers-$stamp.jsonl"
md="$out/peers-$stamp.md"
: >"$jsonl"
load() { cut -d' ' -f1 /proc/loadavg; }
load_before="$(load)"
# The first line of /proc/stat sums every CPU's time by state; steal is
# time the hypervisor gave the vCPUs to someone else.
cpustat() { head -n1 /proc/stat; }
stat_before="$(cpustat)"

# run ENGINE MODEL BATCH ROUND CMD...: runs one measurement and appends its
# JSON line (or an error line) to $jsonl.
run() {
	local engine="$1" model="$2" batch="$3" round="$4" status=0
	shift 4
	log "$engine $model batch $batch (round $round of $rounds)"
	"$@" >"$tmp/run.out" 2>"$tmp/run.err" || status=$?
	if [[ $status != 0 ]]; then
		cat "$tmp/run.err" >>"$tmp/run.out"
	fi
	"$py" "$here/peers.py" record "$engine" "$model" "$batch" "$threads" "$status" --round "$round" <"$tmp/run.out" >>"$jsonl"
}

# run_pair MODEL BATCH ROUND: convnet and ONNX Runtime in alternating
# turns (paired.py), each engine's result appended to $jsonl.
run_pair() {
	local model="$1" batch="$2" round="$3" status=0
	log "convnet and onnxruntime $model batch $batch, $turns turns each (round $round of $rounds)"
	"$py" "$here/paired.py" --turns "$turns" --runs "$runs" \
		convnet "$convnet bench $model --batch $batch --threads $threads --warmup $warmup --serve" \
		onnxruntime "node $here/ort_bench.js $out/models/$model.onnx --batch $batch --threads $threads --warmup $warmup --serve 1" \
		>"$tmp/pair.out" 2>"$tmp/run.err" || status=$?
	for engine in convnet onnxruntime; do
		{ grep -F "\"engine\": \"$engine\"" "$tmp/pair.out" || cat "$tmp/run.err"; } |
			"$py" "$here/peers.py" record "$engine" "$model" "$batch" "$threads" "$status" --round "$round" >>"$jsonl"
	done
}

for model in $models; do
	for batch in $batches; do
		for round in $(seq 1 "$rounds"); do
			if [[ -n "$paired" ]]; then
				run_pair "$model" "$batch" "$round"
			elif [[ -n "$convnet" ]]; then
				run convnet "$model" "$batch" "$round" "$convnet" bench "$model" --batch "$batch" --threads "$threads" --format json "${convnet_flags[@]}"
			else
				echo "{\"engine\":\"convnet\",\"model\":\"$model\",\"batch\":$batch,\"threads\":$threads,\"round\":$round,\"error\":\"convnet bench is not available\"}" >>"$jsonl"
			fi
			[[ -n "$paired" ]] || run onnxruntime "$model" "$batch" "$round" node "$here/ort_bench.js" "$out/models/$model.onnx" \
				--batch "$batch" --threads "$threads" --runs "$runs" --warmup "$warmup"
			if [[ $round == 1 ]]; then
				OMP_NUM_THREADS="$threads" run pytorch "$model" "$batch" "$round" "$py" "$here/torch_bench.py" "$model" \
					--weights "$out/models/$model.pth" --batch "$batch" --threads "$threads" --runs "$runs" --warmup "$warmup"
			fi
		done
	done
done

cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)"
[[ -n "$cpu" ]] || cpu="$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -n1)"
fam="$(sed -n 's/^cpu family[[:space:]]*: *//p' /proc/cpuinfo | head -n1)"
mod="$(sed -n 's/^model[[:space:]]*: *//p' /proc/cpuinfo | head -n1)"
isa=AVX2
grep -qw avx512f /proc/cpuinfo && isa=AVX-512
cpu="$cpu (family $fam model $mod, $isa), $(nproc) CPUs"
"$py" "$here/peers.py" table "$jsonl" --cpu "$cpu" --load-before "$load_before" --load-after "$(load)" \
	--stat-before "$stat_before" --stat-after "$(cpustat)" | tee "$md"
log "raw results: $jsonl; table: $md"

#!/usr/bin/env bash
# Regenerates the PyTorch reference data under testdata/torch/ by running
# every generator in scripts/torch_refs/ (a .py file with a __main__ block;
# the others are libraries such as common.py). A generator is called as
#   python3 GENERATOR.py OUTDIR
# and must write everything into OUTDIR, which is testdata/torch/<name>:
# <name> is the generator's base name, or what a line "# refs-dir: <name>"
# in the generator says. The data is never committed; this script is the one
# command that makes it.
#
# Idempotent and quick when nothing changed: each output directory holds a
# .stamp with the sha256 of its generator, the libraries it imports, this
# script and the torch/numpy versions, and only stale generators run again;
# testdata/torch/.stamp covers all of them, so an up-to-date tree costs one
# hash and no Python.
#
#   bash scripts/make_refs.sh          # regenerate what is stale
#   FORCE=1 bash scripts/make_refs.sh  # regenerate everything
#   PYTHON=/path/to/python3 ...        # default /usr/bin/python3 (Debian's python3-torch)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-/usr/bin/python3}"
out=testdata/torch

gens=()
libs=()
for f in scripts/torch_refs/*.py; do
	if grep -q '^if __name__ == .__main__.:' "$f"; then
		gens+=("$f")
	else
		libs+=("$f")
	fi
done

dir_of() {
	local d
	d="$(sed -n 's/^# refs-dir: *\([A-Za-z0-9_.-]*\) *$/\1/p' "$1" | head -n1)"
	echo "${d:-$(basename "$1" .py)}"
}

# Versions via package metadata: importing torch would cost a second.
versions="$("$py" -c 'import importlib.metadata as m; print(m.version("torch"), m.version("numpy"))' 2>/dev/null || echo unknown)"
common_sum="$( { sha256sum scripts/make_refs.sh; echo "$py $versions"; } | sha256sum | cut -d' ' -f1)"
# A generator's stamp covers itself and the libraries it imports.
stamp_of() {
	local l deps=()
	for l in "${libs[@]}"; do
		if grep -Eq "^(from|import) $(basename "$l" .py)( |$)" "$1"; then
			deps+=("$l")
		fi
	done
	{ sha256sum "$1" "${deps[@]}"; echo "$common_sum"; } | sha256sum | cut -d' ' -f1
}

all_sum="$(for g in "${gens[@]}"; do echo "$(dir_of "$g") $(stamp_of "$g")"; done | sha256sum | cut -d' ' -f1)"
up_to_date() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

if [[ -z "${FORCE:-}" ]] && up_to_date "$out/.stamp" "$all_sum"; then
	ok=1
	for g in "${gens[@]}"; do
		[[ -d "$out/$(dir_of "$g")" ]] || ok=0
	done
	if [[ $ok == 1 ]]; then
		echo "make_refs: $out is up to date"
		exit 0
	fi
fi

mkdir -p "$out"
rm -f "$out/.stamp"
for g in "${gens[@]}"; do
	name="$(dir_of "$g")"
	want="$(stamp_of "$g")"
	if [[ -z "${FORCE:-}" ]] && up_to_date "$out/$name/.stamp" "$want"; then
		echo "make_refs: $out/$name is up to date"
		continue
	fi
	# Write beside the final place and swap, so that an interrupted run
	# never leaves a half-written directory that looks complete.
	tmp="$out/.$name.tmp"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	echo "make_refs: $g -> $out/$name"
	(cd scripts/torch_refs && "$py" "$(basename "$g")" "$root/$tmp")
	echo "$want" >"$tmp/.stamp"
	rm -rf "${out:?}/$name"
	mv "$tmp" "$out/$name"
done
echo "$all_sum" >"$out/.stamp"
echo "make_refs: $out is up to date"

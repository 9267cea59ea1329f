#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (target `fuzz` of the default preset; needs clang
# and libclang-rt-14-dev) and runs each, one at a time, for SECONDS (default 30).
#
# usage: tests/fuzz/run.sh [SECONDS] [HARNESS...]      (HARNESS: config, uri, idmap, ...)
#
# New inputs go to tests/fuzz/out/<harness>/ (seeds are read from corpus/<harness>/ and never
# modified), crashes to tests/fuzz/out/artifacts/<harness>-crash-*. To keep a finding as a
# regression seed, copy a small input into corpus/<harness>/; a known crasher that is not
# fixed yet goes there as crash-<harness>-<what>, which the ctest replay skips.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

secs=${1:-30}
shift || true
if (($#)); then
	harnesses=("$@")
else
	harnesses=()
	for f in tests/fuzz/fuzz_*.c; do
		h=${f#tests/fuzz/fuzz_}
		harnesses+=("${h%.c}")
	done
fi

if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	echo "tests/fuzz/run.sh: no libFuzzer runtime; apt-get install clang libclang-rt-14-dev" >&2
	exit 1
fi
cmake --preset default >/dev/null
cmake --build build --target fuzz

bin=build/fuzz-libfuzzer/bin
out=tests/fuzz/out
mkdir -p "$out/artifacts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for h in "${harnesses[@]}"; do
	args=(-max_total_time="$secs" -timeout=10 -print_final_stats=1
	      -artifact_prefix="$out/artifacts/$h-")
	[[ -f tests/fuzz/dict/$h.dict ]] && args+=(-dict="tests/fuzz/dict/$h.dict")
	mkdir -p "$out/$h"
	echo "== fuzz_$h for ${secs}s"
	# The crash-* reproducers of known bugs would stop the run at once: seed without them.
	seeds=$tmp/$h
	mkdir -p "$seeds"
	find "tests/fuzz/corpus/$h" -maxdepth 1 -type f ! -name 'crash-*' -exec cp -t "$seeds" {} +
	"$bin/fuzz_$h" "${args[@]}" "$out/$h" "$seeds" || status=1
done
exit $status

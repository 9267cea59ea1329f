#!/usr/bin/env bash
# clang-tidy with the checked-in .clang-tidy over every tracked C file, using the compile
# commands of the build in $1 (the default preset's). Any finding fails; one that is wrong is
# suppressed where it is reported: `// NOLINT(check): reason` (or NOLINTNEXTLINE).
set -euo pipefail
build=$(realpath "${1:?usage: tidy.sh BUILD_DIR}")
source "$(dirname "$0")/common.sh"
lint_need clang-tidy clang-tidy
lint_need python3 python3
[[ -f $build/compile_commands.json ]] || { echo "FAIL: no $build/compile_commands.json" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lint_files '*.c' | python3 tests/lint/compdb.py "$build" "$tmp"
python3 -c 'import json,sys; [print(e["file"]) for e in json.load(open(sys.argv[1]))]' \
	"$tmp/compile_commands.json" >"$tmp/files"

# One clang-tidy per file, as many at once as there are cores. The build's flags are gcc's:
# clang does not know some warning options (-Wno-format-truncation).
status=0
# shellcheck disable=SC2016 # expanded by the inner sh, once per file
xargs -P"$(nproc)" -I{} sh -c 'clang-tidy --quiet -p "$1" --extra-arg=-Wno-unknown-warning-option \
	"$2" >"$1/$(echo "$2" | tr / _).out" 2>&1' _ "$tmp" {} <"$tmp/files" || status=$?
cat /dev/null "$tmp"/*.out >"$tmp/all" 2>/dev/null || true # no file to check: no .out
{ grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error): ' "$tmp/all" || true; } | sort -u | lint_report clang-tidy || exit 1
if ((status)); then
	echo "clang-tidy failed:" >&2
	cat "$tmp/all" >&2
	exit 1
fi

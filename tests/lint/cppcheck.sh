#!/usr/bin/env bash
# cppcheck over every tracked C file with the compile commands of the build in $1 (the
# default preset's); tests/lint/cppcheck.cfg defines jansson's iteration macros, which
# cppcheck otherwise stops at (unknownMacro: the rest of the file is not checked).
# Any finding fails; one that is wrong is suppressed where it is reported:
# `// cppcheck-suppress id ; reason` on the line before.
set -euo pipefail
build=$(realpath "${1:?usage: cppcheck.sh BUILD_DIR}")
source "$(dirname "$0")/common.sh"
lint_need cppcheck cppcheck
lint_need python3 python3
[[ -f $build/compile_commands.json ]] || { echo "FAIL: no $build/compile_commands.json" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lint_files '*.c' | python3 tests/lint/compdb.py "$build" "$tmp"
if ! grep -q '"file"' "$tmp/compile_commands.json"; then
	echo "cppcheck: no C file to check" # LINT_CHANGED_SINCE with no C file changed
	exit 0
fi

# Checks left out for the whole tree, each with the reason:
#  variableScope: C89-style declarations at the top of a block are allowed; many are
#    _cleanup_ variables whose scope is the function on purpose.
#  readdirCalled, strtokCalled, getpwnamCalled, ... (portability: "non reentrant function"):
#    lockboxd and the client are single-threaded (one event loop, STYLE.md rule 6), and glibc
#    deprecates readdir_r in favour of readdir.
# --library=gnu after posix: posix.cfg says mmap's fd must be >= 0, gnu.cfg knows -1 with
# MAP_ANONYMOUS.
status=0
cppcheck --project="$tmp/compile_commands.json" -j"$(nproc)" --quiet --inline-suppr \
	--enable=warning,style,performance,portability \
	--library=posix --library=gnu --library=libcurl --library=openssl \
	--library="$LINT_ROOT/tests/lint/cppcheck.cfg" \
	--suppress=variableScope --suppress=readdirCalled --suppress=strtokCalled \
	--suppress=getpwnamCalled --suppress=getpwuidCalled --suppress=getgrnamCalled \
	--suppress=getgrgidCalled --suppress=localtimeCalled --suppress=gmtimeCalled \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
	--cppcheck-build-dir="$tmp" 2>"$tmp/all" >/dev/null || status=$?
{ grep -E '^[^ ]+:[0-9]+:[0-9]+: [a-z]+: ' "$tmp/all" || true; } | sort -u | lint_report cppcheck || exit 1
if ((status)); then
	echo "cppcheck failed:" >&2
	cat "$tmp/all" >&2
	exit 1
fi

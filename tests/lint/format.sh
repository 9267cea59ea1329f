#!/usr/bin/env bash
# Every tracked C source is formatted with the pinned .clang-format (STYLE.md rule 12).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null || {
	[[ ${LOCKBOX_MUST_WORK:-} == 1 ]] && { echo "FAIL: clang-format missing" >&2; exit 1; }
	echo "SKIP: clang-format missing"; exit 77; }
bad=0
while read -r f; do
	[[ -f $f ]] || continue
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "not formatted: $f"; bad=1; }
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find broker policy client include tests -name '*.[ch]')
exit $bad

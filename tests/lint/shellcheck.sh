#!/usr/bin/env bash
# Runs shellcheck (with the checked-in .shellcheckrc) on every tracked shell script: *.sh and files
# whose first line names a shell. Any finding fails; one that is wrong is suppressed where
# it is reported: `# shellcheck disable=SCxxxx # reason` on the line before.
set -euo pipefail
source "$(dirname "$0")/common.sh"
lint_need shellcheck shellcheck

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lint_files | while read -r f; do
	case $f in
	*.sh) echo "$f" ;;
	*) if head -n1 "$f" | grep -qE '^#!.*\b(ba|da|)sh\b'; then echo "$f"; fi ;;
	esac
done >"$tmp/scripts"
# -x follows the libraries a script sources, so each is checked as it is used.
status=0
xargs -r -P"$(nproc)" -n8 shellcheck -x -f gcc <"$tmp/scripts" >"$tmp/all" 2>&1 || status=$?
{ grep -E '^[^ ]+:[0-9]+:[0-9]+: [a-z]+: ' "$tmp/all" || true; } | sort -u | lint_report shellcheck || exit 1
if ((status)); then
	echo "shellcheck failed:" >&2
	cat "$tmp/all" >&2
	exit 1
fi

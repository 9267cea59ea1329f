# shellcheck shell=bash
# Shared by the lint tests (tidy.sh, cppcheck.sh, shellcheck.sh): the file lists, the list of
# files not checked yet and how a finding is reported. Sourced, never run.

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
LINT_ROOT=$PWD

# Files not linted yet, each with the reason. Everything else is checked; a finding that is
# wrong is suppressed where it is reported, with the reason (see tests/lint/README.md).
# Empty since issue 13: a new file comes in clean.
LINT_PENDING=()

lint_need() {
	command -v "$1" >/dev/null && return 0
	if [[ ${LOCKBOX_MUST_WORK:-} == 1 ]]; then
		echo "FAIL: $1 missing (apt-get install $2)" >&2
		exit 1
	fi
	echo "SKIP: $1 missing (apt-get install $2)"
	exit 77
}

# lint_pending PATH: true when PATH (relative to the source root) is in LINT_PENDING.
lint_pending() {
	local entry pat
	for entry in "${LINT_PENDING[@]}"; do
		pat=${entry%%[[:space:]]*}
		# shellcheck disable=SC2053 # the pattern is a glob on purpose
		[[ $1 == $pat ]] && return 0
	done
	return 1
}

# lint_files GLOB...: tracked files matching the globs, pending ones left out.
# LINT_CHANGED_SINCE=REV (a developer's quick check, never CI): only files changed since REV.
lint_files() {
	local f
	{
		if [[ -n ${LINT_CHANGED_SINCE:-} ]]; then
			git -C "$LINT_ROOT" diff --name-only --diff-filter=d "$LINT_CHANGED_SINCE" -- "$@"
		else
			git -C "$LINT_ROOT" ls-files -- "$@"
		fi
	} | while read -r f; do
		if [[ -f $f ]] && ! lint_pending "$f"; then
			printf '%s\n' "$f"
		fi
	done
}

# lint_report TOOL: reads "path:line:col: severity: message [id]" lines on stdin, drops
# those in pending files and duplicates (a header is seen once per file that includes it),
# prints the rest and fails when there are any.
lint_report() {
	local tool=$1 line path n=0
	declare -A seen=()
	while IFS= read -r line; do
		path=${line%%:*}
		path=${path#"$LINT_ROOT"/}
		lint_pending "$path" && continue
		[[ -n ${seen[$path:${line#*:}]:-} ]] && continue
		seen[$path:${line#*:}]=1
		echo "$path:${line#*:}"
		n=$((n + 1))
	done
	if ((${#LINT_PENDING[@]})); then
		echo "$tool: not checked yet (tests/lint/common.sh LINT_PENDING):"
		printf '  %s\n' "${LINT_PENDING[@]}"
	fi
	if ((n)); then
		echo "$tool: $n finding(s). Fix them, or suppress one that is wrong where it is" \
			"reported, with the reason (tests/lint/README.md)."
		return 1
	fi
	echo "$tool: clean"
}

# shellcheck shell=bash
# Shared helpers for the client integration tests (bash). Each test gets:
#   $LOCKBOX   the static client under test (first argument of the test script)
#   $W         a fresh tmpfs, writable: the broker's side, where the layout is written
#   $D         a read-only bind of $W: what a container sees as /run/secrets
# and everything (mounts, processes) is cleaned up on exit.
set -u

LOCKBOX=${1:?usage: $0 /path/to/lockbox}
TEST=$(basename "$0" .sh)
FAILS=0
T=
W=
D=

skip() {
	if [ "${LOCKBOX_MUST_WORK:-}" = 1 ]; then
		echo "FAIL: $TEST cannot run here and LOCKBOX_MUST_WORK=1: $*"
		exit 1
	fi
	echo "SKIP: $TEST: $*"
	exit 77
}

fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

pass() {
	echo "ok: $*"
}

lb_cleanup() {
	local m j
	# Background processes of the test (lockbox, unshare --kill-child) go first.
	for j in $(jobs -p); do kill -KILL "$j" 2>/dev/null; done
	[ -n "$T" ] || return 0
	# Innermost first: every mount below $T, deepest path first.
	awk -v t="$T" '$2 ~ "^"t {print $2}' /proc/self/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null
	done
	if [ -f "$T/remove" ]; then
		while read -r m; do rm -rf "$m"; done <"$T/remove"
	fi
	rm -rf "$T"
}

lb_finish() {
	if [ "$FAILS" -ne 0 ]; then
		echo "$TEST: $FAILS failure(s)"
		exit 1
	fi
	echo "$TEST: all passed"
	exit 0
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (mount tmpfs)"
	[ -x "$LOCKBOX" ] || { echo "FAIL: no client at $LOCKBOX"; exit 1; }
	T=$(mktemp -d /tmp/lockbox-client-test.XXXXXX)
	# Readers run as other uids too (setpriv, user namespaces).
	chmod 0755 "$T"
	trap lb_cleanup EXIT
	# ctest timeouts and ^C: exit through the EXIT trap so that no mount is left.
	trap "exit 143" TERM
	trap "exit 130" INT
	mkdir -p "$T/w" "$T/ro"
	mount -t tmpfs -o mode=0755,uid=0,gid=0,size=4m tmpfs "$T/w" 2>/dev/null ||
		skip "cannot mount tmpfs"
	mount --bind "$T/w" "$T/ro" && mount -o remount,bind,ro "$T/ro" ||
		skip "cannot make a read-only bind mount"
	W=$T/w
	# shellcheck disable=SC2034 # used by the tests that source this file
	D=$T/ro
	mkdir -p "$T/bin"
	mount -t tmpfs -o mode=0755,uid=0,gid=0,size=64m tmpfs "$T/bin" 2>/dev/null ||
		skip "cannot mount tmpfs"
	LOCKBOX=$(reachable "$LOCKBOX") || exit 1
}

# reachable FILE: prints the path of a copy of FILE that every uid can execute. Readers run
# as other uids (setpriv, user namespaces) and cannot reach a checkout in a 0700 home; /tmp
# may be noexec. The copies live on a tmpfs of their own under $T (0755, exec allowed).
reachable() {
	cp "$1" "$T/bin/" && chmod 0755 "$T/bin/${1##*/}" || { echo "FAIL: cannot copy $1" >&2; exit 1; }
	echo "$T/bin/${1##*/}"
}

# not_tmpfs: sets NOT_TMPFS to a new empty directory (root, 0755) on a filesystem that statfs
# says is not a tmpfs, for the client to refuse. /tmp often is a tmpfs (Debian 13, Fedora,
# Arch); /var/tmp and the build directory usually are not. Last resort: a ramfs of our own
# (another f_type than tmpfs).
not_tmpfs() {
	local base dir
	for base in /var/tmp "$PWD"; do
		[ -d "$base" ] && [ "$(stat -f -c %t "$base")" != 1021994 ] || continue
		dir=$(mktemp -d "$base/lockbox-not-tmpfs.XXXXXX" 2>/dev/null) || continue
		chmod 0755 "$dir"
		echo "$dir" >>"$T/remove"
		NOT_TMPFS=$dir
		return 0
	done
	mkdir -p "$T/ramfs"
	mount -t ramfs -o mode=0755 ramfs "$T/ramfs" 2>/dev/null || skip "no directory outside a tmpfs"
	# shellcheck disable=SC2034 # used by the tests that source this file
	NOT_TMPFS=$T/ramfs
}

# lb_gen N [NAME VALUE UID GID MODE NOT_AFTER]...   NOT_AFTER: seconds, "none" or "null"
# Writes ..gen-N with its secrets and manifest the way lockboxd does.
lb_gen() {
	local gen=$1 g sep="" entries="" name value uid gid mode na
	shift
	g=$W/..gen-$gen
	mkdir -m 0755 "$g"
	while [ $# -ge 6 ]; do
		name=$1 value=$2 uid=$3 gid=$4 mode=$5 na=$6
		shift 6
		printf '%s' "$value" >"$g/$name"
		chown "$uid:$gid" "$g/$name"
		chmod "$mode" "$g/$name"
		case $na in
		none) entries="$entries$sep\"$name\":{\"version\":\"1\",\"source\":\"local:t/$name\"}" ;;
		*) entries="$entries$sep\"$name\":{\"version\":\"1\",\"not_after\":$na,\"source\":\"local:t/$name\"}" ;;
		esac
		sep=,
	done
	printf '{"generation":%s,"written_at":%s,"secrets":{%s}}' "$gen" "$(date +%s)" "$entries" \
		>"$g/.manifest.json"
	chmod 0444 "$g/.manifest.json"
}

# lb_publish N: swap ..data to ..gen-N atomically (symlink + rename) and link every name.
lb_publish() {
	local gen=$1 f
	ln -sfn "..gen-$gen" "$W/..data.tmp"
	mv -T "$W/..data.tmp" "$W/..data"
	# Like lockboxd: links of new names right after the swap.
	for f in "$W/..gen-$gen"/*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		f=${f##*/}
		[ -L "$W/$f" ] || ln -s "..data/$f" "$W/$f"
	done
}

# run_lb WANT_RC DESCRIPTION ARGS...: runs the client, keeps stdout/stderr in $OUT/$ERR.
OUT=
ERR=
RC=
run_lb() {
	local want=$1 what=$2
	shift 2
	OUT=$("$LOCKBOX" "$@" 2>"$T/stderr")
	RC=$?
	ERR=$(cat "$T/stderr")
	if [ "$RC" != "$want" ]; then
		fail "$what: exit $RC, want $want (stderr: $ERR)"
		return 1
	fi
	pass "$what (exit $RC)"
}

# expect_err SUBSTRING DESCRIPTION: the last run's stderr must contain SUBSTRING.
expect_err() {
	case $ERR in
	*"$1"*) pass "$2: message names it" ;;
	*) fail "$2: stderr '$ERR' lacks '$1'" ;;
	esac
}

expect_out() {
	if [ "$OUT" = "$1" ]; then
		pass "$2: output"
	else
		fail "$2: stdout '$OUT', want '$1'"
	fi
}

now() { date +%s; }

# lb_reset: empty the tmpfs (both views) for the next scenario.
lb_reset() {
	find "$W" -mindepth 1 -delete
	chown 0:0 "$W"
	chmod 0755 "$W"
}

# wait_for DESCRIPTION SECONDS COMMAND...: retry COMMAND every 20 ms until it succeeds.
# (Test-side polling only; the client itself never polls.)
wait_for() {
	local what=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 50; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.02
	done
	fail "timed out waiting for $what"
	return 1
}

# lines FILE: number of lines in FILE (0 when missing).
lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }
# lines_are FILE N: FILE has exactly N lines (for wait_for, which re-runs it).
lines_are() { [ "$(lines "$1")" = "$2" ]; }

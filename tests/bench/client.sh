#!/bin/bash
# Client size and overhead against tini-static and dumb-init. Prints numbers and ratios;
# asserts nothing about time. Needs root (tmpfs for the `get` layout). Installs nothing.
# usage: tests/bench/client.sh [build/bin/lockbox] [runs]
set -u
LOCKBOX=${1:-build/bin/lockbox}
RUNS=${2:-200}
TINI=/usr/bin/tini-static
DUMB=/usr/bin/dumb-init

[ -x "$LOCKBOX" ] || { echo "no client at $LOCKBOX (build first)"; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "== size"
lb=$(stat -c %s "$LOCKBOX")
printf '%-12s %8d bytes\n' lockbox "$lb"
for b in "$TINI" "$DUMB"; do
	if [ -x "$b" ]; then
		s=$(stat -c %s "$b")
		printf '%-12s %8d bytes   lockbox/%s = %s\n' "${b##*/}" "$s" "${b##*/}" "$(ratio "$lb" "$s")"
	else
		echo "${b##*/}: not installed (apt-get install tini dumb-init)"
	fi
done

# runs_ns N CMD...: wall time of N sequential runs, in ns.
runs_ns() {
	local n=$1 t0 t1 i
	shift
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1; done
	t1=$(date +%s%N)
	echo $((t1 - t0))
}

T=$(mktemp -d /tmp/lockbox-bench.XXXXXX)
cleanup() { umount "$T/d" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
mkdir "$T/d"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o mode=0755 tmpfs "$T/d"; then
	mkdir -m 0755 "$T/d/..gen-1"
	printf 'bench-secret' >"$T/d/..gen-1/db_password"
	chmod 0400 "$T/d/..gen-1/db_password"
	printf '{"generation":1,"written_at":%s,"secrets":{"db_password":{"version":"1","not_after":%s}}}' \
		"$(date +%s)" $(($(date +%s) + 3600)) >"$T/d/..gen-1/.manifest.json"
	chmod 0444 "$T/d/..gen-1/.manifest.json"
	ln -s ..gen-1 "$T/d/..data"
	ln -s ..data/db_password "$T/d/db_password"
	mount -o remount,ro "$T/d"
	DIR=$T/d
else
	DIR=
	echo "(not root: exec and get timings skipped, they need a tmpfs layout)"
fi

echo "== $RUNS runs each (sequential, wall time per run)"
t_true=$(runs_ns "$RUNS" /bin/true)
printf '%-28s %8d us\n' "true" $((t_true / RUNS / 1000))
if [ -x "$TINI" ]; then
	t_tini=$(runs_ns "$RUNS" "$TINI" -s -- /bin/true)
	printf '%-28s %8d us   /true = %s\n' "tini-static -- true" $((t_tini / RUNS / 1000)) "$(ratio "$t_tini" "$t_true")"
fi
if [ -x "$DUMB" ]; then
	t_dumb=$(runs_ns "$RUNS" "$DUMB" /bin/true)
	printf '%-28s %8d us   /true = %s\n' "dumb-init true" $((t_dumb / RUNS / 1000)) "$(ratio "$t_dumb" "$t_true")"
fi
if [ -n "$DIR" ]; then
	t_lb=$(runs_ns "$RUNS" "$LOCKBOX" exec --dir "$DIR" -- /bin/true)
	printf '%-28s %8d us   /true = %s' "lockbox exec -- true" $((t_lb / RUNS / 1000)) "$(ratio "$t_lb" "$t_true")"
	[ -x "$TINI" ] && printf '   /tini = %s' "$(ratio "$t_lb" "$t_tini")"
	printf '   overhead vs true = %d us\n' $(((t_lb - t_true) / RUNS / 1000))
	t_get=$(runs_ns "$RUNS" "$LOCKBOX" get db_password --dir "$DIR")
	t_cat=$(runs_ns "$RUNS" /bin/cat "$DIR/db_password")
	printf '%-28s %8d us   /cat = %s\n' "lockbox get (per call)" $((t_get / RUNS / 1000)) "$(ratio "$t_get" "$t_cat")"
	printf '%-28s %8d us\n' "cat D/NAME (per call)" $((t_cat / RUNS / 1000))
fi

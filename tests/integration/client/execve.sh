#!/bin/bash
# lockbox exec when it is not PID 1 and nothing keeps it (no --init, no --restart-on-rotate):
# it becomes CMD (execve). CMD has lockbox's pid and parent, its status is its own, a notify
# signal that came before CMD started is dropped, a stop signal the caller blocked stays
# pending for CMD, and no fd of lockbox's reaches CMD. With --init it stays as before.
# usage: execve.sh LOCKBOX EXEC_PROBE
. "$(dirname "$0")/lib.sh"
need_root
PROBE=$(reachable "${2:?usage: $0 LOCKBOX EXEC_PROBE}") || exit 1

exp=$(($(now) + 3600))
lb_gen 1 db_password 'pw' 0 0 0400 "$exp"
lb_publish 1

# CMD is lockbox's process: same pid, same parent (this shell).
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
"$LOCKBOX" exec --dir "$D" -- /bin/sh -c 'echo "$$ $PPID"' >"$T/pids" &
lpid=$!
wait $lpid
RC=$?
read -r cpid cppid <"$T/pids"
[ "$RC" = 0 ] && [ "$cpid" = "$lpid" ] && pass "CMD runs with lockbox's pid ($lpid)" ||
	fail "CMD's pid $cpid, lockbox's $lpid (exit $RC)"
[ "$cppid" = $$ ] && pass "CMD's parent is lockbox's caller" || fail "CMD's parent $cppid, want $$"
# With --init it stays: CMD is its child.
# shellcheck disable=SC2016
"$LOCKBOX" exec --init --dir "$D" -- /bin/sh -c 'echo "$$ $PPID"' >"$T/pids" &
lpid=$!
wait $lpid
read -r cpid cppid <"$T/pids"
[ "$cppid" = "$lpid" ] && [ "$cpid" != "$lpid" ] && pass "--init: CMD is lockbox's child" ||
	fail "--init: CMD $cpid with parent $cppid, lockbox $lpid"

# The status is CMD's own: an exit code, or the signal that ended it (not 128+N from us).
check_status() {
	local want=$1 what=$2 got
	shift 2
	got=$("$PROBE" status -- "$LOCKBOX" "$@" 2>"$T/stderr")
	[ "$got" = "$want" ] && pass "$what: $got" || fail "$what: '$got', want '$want' ($(cat "$T/stderr"))"
}
check_status "exit 7" "exit status passed through" exec --dir "$D" -- /bin/sh -c 'exit 7'
# shellcheck disable=SC2016
check_status "signal 15" "CMD ended by SIGTERM is seen so" exec --dir "$D" -- /bin/sh -c 'kill -TERM $$'
# shellcheck disable=SC2016
check_status "exit 143" "--init: 128+SIGTERM, as an init reports it" \
	exec --init --dir "$D" -- /bin/sh -c 'kill -TERM $$'
check_status "exit 127" "missing command: 127" exec --dir "$D" -- /nonexistent/cmd
check_status "exit 66" "no secrets: CMD does not run" exec --dir "$D/nonexistent" -- /bin/true

# Signals pending when lockbox starts (blocked by its caller, as exec_probe leaves them):
# notify signals are dropped, SIGTERM stays pending for CMD, CMD gets the caller's mask.
# HUP, USR1, USR2, TERM: bits 0, 9, 11, 14. Pending: the thread's (raise) or the process's.
OUT=$("$PROBE" pending HUP USR1 USR2 TERM -- "$LOCKBOX" exec --dir "$D" -- \
	grep -E '^(SigPnd|ShdPnd|SigBlk):' /proc/self/status)
RC=$?
sig_field() { awk -v f="$1:" '$1 == f {print $2}' <<<"$OUT"; }
s1=$(sig_field SigPnd) s2=$(sig_field ShdPnd)
pnd=$(printf "%016x" $((0x${s1:-0} | 0x${s2:-0})))
blk=$(sig_field SigBlk)
[ "$RC" = 0 ] && [ "$pnd" = 0000000000004000 ] &&
	pass "pending HUP, USR1, USR2 dropped, TERM kept for CMD (pending $pnd)" ||
	fail "pending signals at CMD: exit $RC, $(tr '\n' ' ' <<<"$OUT")"
[ "$blk" = 0000000000004a01 ] && pass "CMD has the caller's signal mask" ||
	fail "CMD's mask $blk, want 0000000000004a01"

# SIGHUP (lockboxd's notify) while lockbox waits for a secret: the wait goes on, CMD starts
# once the secret is there, in lockbox's process, and never sees that SIGHUP (CMD has no
# handler before it sets one; the default action would end it).
# shellcheck disable=SC2317 # run by wait_for
blocks_signals() { awk '$1 == "SigBlk:" && $2 != "0000000000000000" {ok = 1} END {exit !ok}' "/proc/$1/status"; }
hup_pending() {
	local v
	v=$(awk '$1 == "ShdPnd:" {print $2}' "/proc/$1/status")
	[ $((0x${v:-0} & 1)) = 1 ]
}
cat >"$T/hupwait.sh" <<SH
trap 'echo HUP >>"$T/hupsigs"' HUP
sleep 0.3
echo \$\$ >"$T/hupran"
SH
"$LOCKBOX" exec --dir "$D" --wait late --timeout 30s -- /bin/sh "$T/hupwait.sh" &
lpid=$!
if wait_for "lockbox blocks signals" 10 blocks_signals $lpid; then
	kill -HUP $lpid
	hup_pending $lpid && pass "SIGHUP pending at lockbox while it waits" || fail "no SIGHUP pending at lockbox"
	lb_gen 2 db_password 'pw' 0 0 0400 "$exp" late 'x' 0 0 0400 "$exp"
	lb_publish 2
	wait $lpid
	RC=$?
	[ $RC = 0 ] && [ "$(cat "$T/hupran" 2>/dev/null)" = "$lpid" ] && [ ! -e "$T/hupsigs" ] &&
		pass "SIGHUP while waiting: CMD ran in lockbox's pid without it" ||
		fail "SIGHUP while waiting: exit $RC, CMD's pid $(cat "$T/hupran" 2>/dev/null) (lockbox $lpid), CMD saw: $(cat "$T/hupsigs" 2>/dev/null)"
fi

# SIGTERM while waiting ends lockbox with 143 before any CMD.
rm -f "$T/ran"
"$LOCKBOX" exec --dir "$D" --wait late3 --timeout 30s -- /bin/sh -c "echo ran >$T/ran" &
lpid=$!
if wait_for "lockbox blocks signals" 10 blocks_signals $lpid; then
	kill -TERM $lpid
	wait $lpid
	RC=$?
	[ $RC = 143 ] && [ ! -e "$T/ran" ] && pass "SIGTERM while waiting: 143, CMD never ran" ||
		fail "SIGTERM while waiting: exit $RC, ran: $(cat "$T/ran" 2>/dev/null)"
fi

# No fd of lockbox's reaches CMD: CMD sees what it sees when run directly (the caller's fds),
# after a check at once and after a wait (inotify, signalfd).
# find's own fd on the directory aside; pipes differ by inode from run to run.
# shellcheck disable=SC2317 # run by the bash -c below (export -f), not called here
fds() {
	find /proc/self/fd/ -mindepth 1 -maxdepth 1 -printf '%f %l\n' | grep -v ' /proc/[0-9]*/fd$' |
		sed -E 's/\[[0-9]+\]$/[]/' | sort
}
export -f fds
direct=$(bash -c fds)
OUT=$("$LOCKBOX" exec --dir "$D" -- bash -c fds)
[ -n "$direct" ] && [ "$OUT" = "$direct" ] && pass "no fd of lockbox's in CMD" ||
	fail "CMD's fds differ from a direct run: $(tr '\n' ' ' <<<"$OUT") vs $(tr '\n' ' ' <<<"$direct")"
"$LOCKBOX" exec --dir "$D" --wait late4 --timeout 30s -- bash -c fds >"$T/fds" &
lpid=$!
if wait_for "lockbox blocks signals" 10 blocks_signals $lpid; then
	lb_gen 3 db_password 'pw' 0 0 0400 "$exp" late4 'x' 0 0 0400 "$exp"
	lb_publish 3
	wait $lpid
	OUT=$(cat "$T/fds")
	[ "$OUT" = "$direct" ] && pass "no fd of lockbox's in CMD after a wait" ||
		fail "CMD's fds after a wait: $(tr '\n' ' ' <<<"$OUT")"
fi

lb_finish

#!/bin/bash
# lockbox exec as PID 1 of a new pid namespace: zombies reaped, signals forwarded,
# the child's exit status and 128+signal propagated.
. "$(dirname "$0")/lib.sh"
need_root
unshare --pid --fork --mount-proc true 2>/dev/null || skip "cannot unshare a pid namespace"

exp=$(($(now) + 3600))
lb_gen 1 db_password 'pw' 0 0 0400 "$exp"
lb_publish 1

in_ns() { unshare --pid --fork --mount-proc --kill-child "$LOCKBOX" exec --dir "$D" -- "$@"; }
# Host pid of the lockbox (\$! of a background unshare, not of a function) that unshare forked (PID 1 inside).
ns_init() { awk '{print $1}' "/proc/$1/task/$1/children" 2>/dev/null; }

# Zombies. The script first proves that the count sees a zombie (a child of a process that
# never waits), then that once orphaned to PID 1 it and other orphans are reaped.
cat >"$T/zombies.sh" <<'SH'
zombies() { grep -l '^State:[[:space:]]*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; }
[ "$PPID" = 1 ] || { echo "parent is $PPID, not 1"; exit 3; }
sh -c 'sleep 0.1 & exec sleep 0.8' &
for i in 1 2 3 4 5; do (sleep 0.2 &); done
sleep 0.5
z1=$(zombies)
wait
sleep 0.5
z2=$(zombies)
echo "before=$z1 after=$z2"
[ "$z1" -ge 1 ] && [ "$z2" -eq 0 ]
SH
OUT=$(in_ns /bin/sh "$T/zombies.sh" 2>&1)
RC=$?
[ $RC = 0 ] && pass "zombies reaped by PID 1 ($OUT)" || fail "zombies: exit $RC: $OUT"

# Exit status and 128+signal.
in_ns /bin/sh -c 'exit 42'
RC=$?
[ $RC = 42 ] && pass "exit status propagated as PID 1" || fail "exit status: $RC, want 42"
in_ns /bin/sh -c 'kill -KILL $$'
RC=$?
[ $RC = 137 ] && pass "128+SIGKILL propagated as PID 1" || fail "SIGKILL: $RC, want 137"

# SIGHUP and SIGTERM sent to PID 1 from outside reach the child.
cat >"$T/traps.sh" <<SH
trap 'echo HUP >>"$T/sigs"' HUP
trap 'echo TERM >>"$T/sigs"; exit 42' TERM
echo ready >"$T/ready"
while :; do sleep 0.02; done
SH
unshare --pid --fork --mount-proc --kill-child "$LOCKBOX" exec --dir "$D" -- /bin/sh "$T/traps.sh" &
upid=$!
if wait_for "child ready" 10 test -s "$T/ready"; then
	init=$(ns_init $upid)
	kill -HUP "$init"
	wait_for "SIGHUP forwarded" 5 grep -q HUP "$T/sigs" && pass "SIGHUP forwarded to the child"
	kill -TERM "$init"
	wait $upid
	RC=$?
	grep -q TERM "$T/sigs" && pass "SIGTERM forwarded to the child" || fail "SIGTERM not seen by the child"
	[ $RC = 42 ] && pass "status after SIGTERM is the child's own (42)" || fail "status after TERM: $RC"
fi

# A child that dies of the forwarded signal: 128+15.
rm -f "$T/ready"
unshare --pid --fork --mount-proc --kill-child "$LOCKBOX" exec --dir "$D" -- /bin/sh -c "echo ready >$T/ready; exec sleep 30" &
upid=$!
if wait_for "sleep ready" 10 test -s "$T/ready"; then
	sleep 0.1
	kill -TERM "$(ns_init $upid)"
	wait $upid
	RC=$?
	[ $RC = 143 ] && pass "128+SIGTERM propagated" || fail "killed child: $RC, want 143"
fi

# SIGTERM to PID 1 while it still waits for its secrets ends it (no child yet).
unshare --pid --fork --mount-proc --kill-child "$LOCKBOX" exec --dir "$D" --wait late --timeout 30s -- true &
upid=$!
sleep 0.5
init=$(ns_init $upid)
t0=$(date +%s%N)
kill -TERM "$init"
wait $upid
RC=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $RC = 143 ] && [ $ms -lt 5000 ] && pass "SIGTERM while waiting ends PID 1 (143, ${ms} ms)" || fail "SIGTERM while waiting: exit $RC after $ms ms"

# SIGHUP (lockboxd's notify) while PID 1 waits for its secrets: the wait goes on, CMD starts
# once they are there and does not get that SIGHUP (it has no handler yet; default ends it).
cat >"$T/hupwait.sh" <<SH
trap 'echo HUP >>"$T/hupsigs"' HUP
sleep 0.3
echo ran >"$T/hupran"
SH
unshare --pid --fork --mount-proc --kill-child "$LOCKBOX" exec --dir "$D" --wait late2 --timeout 30s -- /bin/sh "$T/hupwait.sh" &
upid=$!
sleep 0.5
kill -HUP "$(ns_init $upid)"
sleep 0.3
lb_gen 2 db_password 'pw' 0 0 0400 "$exp" late2 'x' 0 0 0400 "$exp"
lb_publish 2
wait $upid
RC=$?
[ $RC = 0 ] && [ -s "$T/hupran" ] && [ ! -e "$T/hupsigs" ] && pass "SIGHUP while waiting: the wait went on, CMD ran without it" ||
	fail "SIGHUP while waiting: exit $RC, ran: $(cat "$T/hupran" 2>/dev/null), child saw: $(cat "$T/hupsigs" 2>/dev/null)"

# Not PID 1 with --init: the same init beside its child (without it lockbox becomes CMD:
# execve.sh).
rm -f "$T/ready" "$T/sigs"
"$LOCKBOX" exec --init --dir "$D" -- /bin/sh "$T/traps.sh" &
lpid=$!
if wait_for "child ready" 10 test -s "$T/ready"; then
	kill -HUP $lpid
	grep -q "^PPid:[[:space:]]*$lpid\$" "/proc/$(awk '{print $1}' "/proc/$lpid/task/$lpid/children")/status" &&
		pass "--init: CMD is lockbox's child" || fail "--init: CMD is not lockbox's child"
	wait_for "SIGHUP forwarded (not PID 1)" 5 grep -q HUP "$T/sigs" && pass "SIGHUP forwarded when not PID 1"
	kill -TERM $lpid
	wait $lpid
	RC=$?
	[ $RC = 42 ] && pass "status propagated when not PID 1" || fail "not PID 1: $RC"
fi
# Orphans of the child are reaped when not PID 1 too with --init (subreaper).
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
OUT=$("$LOCKBOX" exec --init --dir "$D" -- /bin/sh -c '(sleep 0.1 &); sleep 0.4; grep -l "^State:[[:space:]]*Z" /proc/[0-9]*/status 2>/dev/null | while read -r f; do p=${f#/proc/}; grep -q "^PPid:[[:space:]]*$PPID\$" "$f" && echo zombie; done')
[ -z "$OUT" ] && pass "orphans reaped when not PID 1" || fail "zombie left under lockbox: $OUT"

lb_finish

#!/bin/bash
# --restart-on-rotate restarts CMD exactly once per rotation of ..data (SIGTERM, grace,
# SIGKILL), re-verifying the new generation; waiting for secrets uses inotify.
. "$(dirname "$0")/lib.sh"
need_root

exp=$(($(now) + 3600))

# Waiting: the broker populates after the client started.
"$LOCKBOX" wait db_password --dir "$D" --timeout 10s 2>"$T/wait.err" &
wpid=$!
sleep 0.3
if [ -d /proc/$wpid ]; then
	pass "wait blocks while ..data is missing"
	# Sleeping in poll(2), not spinning: state S and (x86_64) syscall 7.
	st=$(awk '{print $3}' /proc/$wpid/stat)
	[ "$st" = S ] && pass "waiter is asleep" || fail "waiter state $st"
	if [ "$(uname -m)" = x86_64 ]; then
		sc=$(cut -d' ' -f1 /proc/$wpid/syscall 2>/dev/null)
		[ "$sc" = 7 ] && pass "waiter sleeps in poll" || fail "waiter in syscall $sc"
	fi
else
	fail "wait returned before the secret existed: $(cat "$T/wait.err")"
fi
t0=$(date +%s%N)
lb_gen 1 db_password 'v1' 0 0 0400 "$exp"
lb_publish 1
wait $wpid
RC=$?
t1=$(date +%s%N)
[ $RC = 0 ] && pass "wait returns once the secret appears" || fail "wait: exit $RC $(cat "$T/wait.err")"
[ $(((t1 - t0) / 1000000)) -lt 1000 ] && pass "wait woke up promptly ($(((t1 - t0) / 1000000)) ms)" || fail "wait slow: $(((t1 - t0) / 1000000)) ms"

# A name that only comes with the next generation.
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
"$LOCKBOX" exec --dir "$D" --wait api_key --timeout 10s -- /bin/sh -c 'cat "$API_KEY_FILE"' >"$T/exec.out" 2>&1 &
epid=$!
sleep 0.3
[ -d /proc/$epid ] && pass "exec --wait blocks for a missing name" || fail "exec --wait did not wait: $(cat "$T/exec.out")"
lb_gen 2 db_password 'v2' 0 0 0400 "$exp" api_key 'k2' 0 0 0400 "$exp"
lb_publish 2
wait $epid
RC=$?
[ $RC = 0 ] && [ "$(cat "$T/exec.out")" = k2 ] && pass "exec --wait runs CMD after the rotation" || fail "exec --wait: $RC $(cat "$T/exec.out")"

# Restart on rotation.
cat >"$T/app.sh" <<SH
echo "start \$(cat "\$DB_PASSWORD_FILE")" >>"$T/log"
trap 'echo term >>"$T/log"; exit 0' TERM
while :; do sleep 0.02; done
SH
"$LOCKBOX" exec --dir "$D" --restart-on-rotate --grace 5s -- /bin/sh "$T/app.sh" 2>"$T/lb.err" &
lpid=$!
wait_for "first start" 10 grep -q "start v2" "$T/log"
lb_gen 3 db_password 'v3' 0 0 0400 "$exp"
lb_publish 3
wait_for "restart after rotation 1" 10 grep -q "start v3" "$T/log"
sleep 0.5
[ "$(lines "$T/log")" = 3 ] && pass "one rotation, one restart" || fail "after rotation 1: $(cat "$T/log")"
lb_gen 4 db_password 'v4' 0 0 0400 "$exp" extra 'e' 0 0 0400 none
lb_publish 4
wait_for "restart after rotation 2" 10 grep -q "start v4" "$T/log"
sleep 0.5
want=$'start v2\nterm\nstart v3\nterm\nstart v4'
[ "$(cat "$T/log")" = "$want" ] && pass "exactly once per rotation, new secret each time" || fail "log: $(cat "$T/log")"
# Unrelated changes in D (a new name link) do not restart.
ln -s ..data/nothing "$W/unrelated"
sleep 0.5
[ "$(lines "$T/log")" = 5 ] && pass "no restart without a new ..data" || fail "restart on unrelated change: $(cat "$T/log")"
kill -TERM $lpid
wait $lpid
RC=$?
[ $RC = 0 ] && pass "SIGTERM still stops the app (exit 0)" || fail "stop: exit $RC $(cat "$T/lb.err")"

# An app that ignores SIGTERM is killed after the grace period and started again.
rm -f "$T/log"
"$LOCKBOX" exec --dir "$D" --restart-on-rotate --grace 300ms -- /bin/sh -c "trap '' TERM; echo start >>$T/log; while :; do sleep 0.02; done" &
lpid=$!
wait_for "stubborn app start" 10 grep -q start "$T/log"
t0=$(date +%s%N)
lb_gen 5 db_password 'v5' 0 0 0400 "$exp"
lb_publish 5
wait_for "stubborn app restart" 10 lines_are "$T/log" 2
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
[ $ms -ge 250 ] && pass "SIGKILL after the grace period (${ms} ms)" || fail "restarted before the grace: $ms ms"
# SIGUSR1 is not ignored by the app (sh defers SIGINT while a foreground command runs):
# forwarded to the new child, it ends it, and lockbox reports 128+10.
kill -USR1 $lpid
wait $lpid
RC=$?
[ $RC = 138 ] && pass "signal forwarded to the restarted child (exit 138)" || fail "after restart: exit $RC"

# A rotation to a generation that fails verification stops the app and exits with the code.
rm -f "$T/log"
"$LOCKBOX" exec --dir "$D" --restart-on-rotate --grace 2s -- /bin/sh "$T/app.sh" 2>"$T/lb.err" &
lpid=$!
wait_for "app start" 10 grep -q "start v5" "$T/log"
lb_gen 6 db_password 'v6' 0 0 0400 $(($(now) - 1))
lb_publish 6
wait $lpid
RC=$?
ERR=$(cat "$T/lb.err")
[ $RC = 65 ] && pass "rotation to an expired generation exits 65" || fail "bad rotation: exit $RC ($ERR)"
expect_err "expiry check failed on $D/..data/db_password" "bad rotation"
grep -q "start v6" "$T/log" && fail "app restarted on an unverified generation" || pass "app not restarted on an unverified generation"

lb_finish

#!/usr/bin/env bash
# SIGHUP (broken config kept out, targets added/removed), SIGUSR1, SIGTERM + restart
# (same files, no second mount), SIGKILL + restart, stale targets removed, tampered store.
source "$(dirname "$0")/lib.sh" "$1"
need_root

write_basic_config
put_secret web/db_password "canary-sig-1111"
put_secret web/api_key "canary-sig-2222"
start_broker
d=$T/run/t/demo
wait_for "first generation" 5 test -L "$d/..data"
good_conf=$(cat "$CONF")

# A broken file: logged with its position, the old config keeps serving.
printf '{\n  "run_dir": "%s/run",\n  "bindings": { "web": { "secrets": {}, "refresh": "soon" } }\n}\n' "$T" >"$CONF"
kill -HUP "$BROKER_PID"
wait_for "reload error in the log" 5 grep -q 'reload: .*lockbox.json:3:41: bindings.web.refresh: bad duration' "$T/lockboxd.log"
grep -q '"event":"reload_failed"' "$T/state/audit.jsonl" || fail "no reload_failed audit event"
ctl status >/dev/null || fail "broker stopped answering after a bad reload"
out=$(ctl reload 2>&1) && fail "lockboxctl reload succeeded on a broken file"
[[ $out == *"lockbox.json:3:"*"bindings.web.secrets: a binding needs at least one secret"* ]] ||
	fail "lockboxctl reload did not print the errors: $out"
assert_eq "$(cat "$d/db_password")" "canary-sig-1111" "secret after a bad reload"
pass "SIGHUP with a broken config keeps the old one"

# A good file that adds target "extra": mounted and populated; then removed again.
echo "$good_conf" | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["targets"]["extra"] = {"binding": "web", "uid": 2000, "gid": 2000}
print(json.dumps(c))' >"$CONF"
kill -HUP "$BROKER_PID"
wait_for "extra target" 5 test -f "$T/run/t/extra/..data/db_password"
assert_eq "$(stat -c %u "$T/run/t/extra/..data/db_password")" "2000" "extra owner (identity map)"
echo "$good_conf" >"$CONF"
ctl reload >/dev/null || fail "lockboxctl reload of a good file"
grep -q " $T/run/t/extra " /proc/mounts && fail "removed target still mounted"
[[ ! -e $T/run/t/extra ]] || fail "removed target directory still there"
grep -q '"event":"target_removed","target":"extra"' "$T/state/audit.jsonl" || fail "no target_removed event"
pass "SIGHUP/reload mounts added targets and wipes removed ones"

# SIGUSR1 picks up a change the broker was not told about (an offline put through a
# second config that shares state_dir but has no broker on its run_dir).
sed "s|\"run_dir\": \"$T/run\"|\"run_dir\": \"$T/offline\"|" "$CONF" >"$T/offline.json"
printf 'canary-sig-3333' | "$LB_BIN/lockboxctl" --config "$T/offline.json" secret put web/db_password | grep -q "lockboxd not running" ||
	fail "offline put did not say it was offline"
assert_eq "$(generation_of demo)" "1" "generation before SIGUSR1"
kill -USR1 "$BROKER_PID"
wait_for "generation 2" 5 bash -c "[[ \$(readlink '$d/..data') == ..gen-2 ]]"
assert_eq "$(cat "$d/db_password")" "canary-sig-3333" "value after SIGUSR1"
pass "SIGUSR1 refreshes every target"

# SIGTERM: exit 0, tmpfs stays; restart reuses it: same generation, same inode, one mount.
ino=$(stat -c %i "$d/..data/db_password")
stop_broker TERM || fail "lockboxd did not exit 0 on SIGTERM"
grep -q " $d tmpfs" /proc/mounts || fail "tmpfs unmounted by SIGTERM"
start_broker
sleep 0.3
assert_eq "$(generation_of demo)" "2" "generation after restart"
assert_eq "$(stat -c %i "$d/..data/db_password")" "$ino" "file rewritten by restart"
assert_eq "$(grep -c " $d tmpfs" /proc/mounts)" "1" "mounts at $d after restart"
pass "SIGTERM + restart keeps the same files and the same mount"

# Generation 1 (whose api_key generation 2 links) is collected after the 1 s grace; a restart
# after that finds every file unchanged: no generation 3, no signal (the collection moved the
# linked file's ctime past the manifest's, which read as a file changed after its manifest).
wait_for "generation 1 collected" 10 bash -c "[[ ! -e '$d/..gen-1' ]]"
stop_broker TERM || fail "lockboxd did not exit 0 on SIGTERM"
start_broker
sleep 1
assert_eq "$(generation_of demo)" "2" "generation after a restart that follows a collection"
pass "a restart after the old generation was collected writes no new generation"

# SIGKILL loses nothing a restart can't recover; a target dropped from the config
# meanwhile is wiped and unmounted at start.
mkdir -p "$T/run/t/stale" && mount -t tmpfs -o size=64k tmpfs "$T/run/t/stale"
echo leftover >"$T/run/t/stale/file"
stop_broker KILL || true
start_broker
wait_for "stale target removed" 5 bash -c "! grep -q ' $T/run/t/stale ' /proc/mounts"
[[ ! -e $T/run/t/stale ]] || fail "stale directory left"
assert_eq "$(cat "$d/db_password")" "canary-sig-3333" "value after SIGKILL + restart"
pass "SIGKILL + restart recovers; stale targets removed"

# A tampered store file is refused by name and the last good file stays.
f=web+db_password.v2
[[ -f $T/state/sealed/$f ]] || fail "no sealed store file $f"
chmod 600 "$T/state/sealed/$f"
printf 'X' | dd of="$T/state/sealed/$f" bs=1 seek=70 conv=notrunc status=none
kill -USR1 "$BROKER_PID"
wait_for "tamper audit" 5 grep -q "\"event\":\"fetch_failed\".*web/db_password version 2 (sealed/$f) failed authentication" "$T/state/audit.jsonl"
assert_eq "$(cat "$d/db_password")" "canary-sig-3333" "last good value kept"
assert_eq "$(generation_of demo)" "2" "no generation written from a tampered store"
pass "tampered sealed file refused, last good file kept"

stop_broker
for v in canary-sig-1111 canary-sig-2222 canary-sig-3333; do assert_no_canary "$v"; done
pass "no canary in logs, audit, state or lockboxctl output"

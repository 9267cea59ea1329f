#!/usr/bin/env bash
# A static target: tmpfs options, layout, ownership through uid_map, manifest without
# secret bytes, --check-config, control commands.
source "$(dirname "$0")/lib.sh" "$1"
need_root

write_basic_config
out=$("$LB_BIN/lockboxd" --check-config "$CONF")
assert_eq "$out" "ok" "--check-config on a good file"

put_secret web/db_password "canary-db-7f3a9c"
put_secret web/api_key "canary-api-51b2e0"
# systemd Type=notify: READY=1 arrives on $NOTIFY_SOCKET once the sockets listen.
python3 - "$T/notify.sock" >"$T/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
print(s.recv(256).decode(), flush=True)
PY
notify_pid=$!
wait_for "notify socket" 5 test -S "$T/notify.sock"
NOTIFY_SOCKET=$T/notify.sock start_broker
wait $notify_pid || fail "no sd_notify datagram"
assert_eq "$(cat "$T/notify.out")" "READY=1" "sd_notify message"
pass "READY=1 sent to NOTIFY_SOCKET"
wait_for "first generation" 5 test -L "$T/run/t/demo/..data"

d=$T/run/t/demo
opts=$(findmnt -n -o FSTYPE,OPTIONS --target "$d")
[[ $opts == tmpfs* ]] || fail "target is not a tmpfs: $opts"
for o in nosuid nodev noexec size=256k mode=755; do
	[[ ,${opts#tmpfs }, == *,$o,* ]] || fail "tmpfs option $o missing: $opts"
done
if [[ ,${opts#tmpfs }, != *,noswap,* ]]; then
	grep -q "noswap is not supported" "$T/lockboxd.log" || fail "no noswap and no warning"
fi
pass "tmpfs options: $opts"

assert_eq "$(readlink "$d/..data")" "..gen-1" "..data link"
assert_eq "$(readlink "$d/db_password")" "..data/db_password" "top-level link"
assert_eq "$(stat -c '%u:%g %a' "$d/..data/db_password")" "101000:101000 400" "db_password owner/mode"
assert_eq "$(stat -c '%u:%g %a' "$d/..data/api_key")" "101000:101000 440" "api_key owner/mode"
assert_eq "$(stat -c '%u:%g %a' "$d/..data/.manifest.json")" "0:101000 440" "manifest owner/mode"
assert_eq "$(stat -c '%u:%g %a' "$d/..gen-1")" "0:0 755" "generation dir"
assert_eq "$(stat -c '%a' "$T/run")" "711" "run_dir mode"
assert_eq "$(stat -c '%a' "$T/state")" "700" "state_dir mode"
assert_eq "$(cat "$d/db_password")" "canary-db-7f3a9c" "delivered value"
pass "layout and ownership"

python3 - "$d/..data/.manifest.json" <<'PY' || fail "manifest content"
import json, sys, time
m = json.load(open(sys.argv[1]))
assert m["generation"] == 1, m
assert abs(m["written_at"] - time.time()) < 60, m
s = m["secrets"]
assert set(s) == {"db_password", "api_key"}, s
assert s["db_password"]["version"] == "1" and s["db_password"]["source"] == "local:web/db_password", s
assert "not_after" not in s["db_password"], "sealed secrets have no lease"
PY
pass "manifest"

# The manifest names store paths: the consumer (uid through the ACL, group through the
# mode) reads it, another local user does not (issue 13 defect 11).
reads() { setpriv --reuid "$1" --regid "$2" --clear-groups cat "$d/..data/.manifest.json" >/dev/null 2>&1; }
reads 101000 55555 || fail "the target's uid cannot read the manifest"
reads 55555 101000 || fail "the target's group cannot read the manifest"
reads 55555 55555 && fail "another local user reads the manifest (store paths, versions)"
pass "manifest readable by the consumer only"

st=$(ctl --json status)
echo "$st" | grep -q '"targets": 1' || fail "status: $st"
tg=$(ctl targets)
echo "$tg" | grep -Eq '^demo +- +web +1000 +1 +[0-9hms]+ ok$' || fail "targets: $tg"
tg=$(ctl targets --wide)
echo "$tg" | grep -Eq '^demo +- +- +web +1000 +101000 +1 +[0-9hms]+ ok +' || fail "targets --wide: $tg"
ctl --json targets | python3 -c 'import json,sys; t=json.load(sys.stdin)["targets"][0]; assert t["host_uid"]==101000 and t["generation"]==1, t' || fail "targets --json"
out=$(ctl rotate demo)
assert_eq "$out" "rotated 1 target(s)" "rotate demo"
assert_eq "$(generation_of demo)" "1" "rotation without a change writes nothing"
if ctl rotate nosuch 2>"$T/err"; then fail "rotate of unknown target succeeded"; fi
grep -q 'no target named "nosuch"' "$T/err" || fail "rotate error: $(cat "$T/err")"
pass "control commands"

# state_dir/targets.json: no secret bytes, the generation is recorded.
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["targets"]["demo"]; assert t["generation"]==1, t' "$T/state/targets.json" || fail "targets.json"
stop_broker
assert_no_canary canary-db-7f3a9c
assert_no_canary canary-api-51b2e0
grep -q '"event":"deliver"' "$T/state/audit.jsonl" || fail "no deliver audit event"
pass "no canary outside the sealed store and the tmpfs"

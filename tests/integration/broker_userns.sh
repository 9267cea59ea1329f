#!/usr/bin/env bash
# Readers in a user namespace: the target's uid reads its file, another uid is denied;
# literal, pid:N and subuid:USER maps translate to the same host owner.
source "$(dirname "$0")/lib.sh" "$1"
need_root
make_userns 100000

subuser=lbtest$$
# /etc/subuid and /etc/subgid are shared with dockerd's remap user: hold the lock other
# tests take too, and remove only our own lines afterwards.
exec 9>/run/lock/lockbox-subid.lock
flock 9
restore_subids() { sed -i "/^$subuser:/d" /etc/subuid /etc/subgid; }
trap 'rc=$?; restore_subids; kill $USERNS_PID 2>/dev/null; (exit $rc); cleanup' EXIT
# Two ranges: inside ids 0..999 -> 100000.., 1000.. -> 101000.. (consecutive inside).
printf '%s:100000:1000\n%s:101000:64536\n' "$subuser" "$subuser" >>/etc/subuid
printf '%s:100000:65536\n' "$subuser" >>/etc/subgid

write_basic_config ",
    \"bypid\": { \"binding\": \"web\", \"uid\": 1000, \"gid\": 1000, \"uid_map\": \"pid:$USERNS_PID\" },
    \"bysubuid\": { \"binding\": \"web\", \"uid\": 1000, \"gid\": 1000, \"uid_map\": \"subuid:$subuser\" },
    \"unmapped\": { \"binding\": \"web\", \"uid\": 70000, \"gid\": 1000, \"uid_map\": \"0 100000 65536\" }"
put_secret web/db_password "canary-userns-0d41"
put_secret web/api_key "canary-userns-api"
start_broker
for t in demo bypid bysubuid; do
	wait_for "target $t" 5 test -L "$T/run/t/$t/..data"
	assert_eq "$(stat -c %u:%g "$T/run/t/$t/..data/db_password")" "101000:101000" "$t owner"
	got=$(as_user 1000 cat "$T/run/t/$t/db_password") || fail "uid 1000 cannot read $t"
	assert_eq "$got" "canary-userns-0d41" "uid 1000 reads $t"
	if as_user 1001 cat "$T/run/t/$t/db_password" 2>/dev/null; then
		fail "uid 1001 read the secret of $t"
	fi
	if as_user 1001 cat "$T/run/t/$t/api_key" 2>/dev/null; then
		fail "uid 1001 read the 0440 secret of $t (not in group 1000)"
	fi
done
pass "uid 1000 reads, uid 1001 is denied (literal, pid:N and subuid maps)"

# An unmapped consumer uid is an error that names the target, never a file owned by 0.
[[ ! -e $T/run/t/unmapped/..data ]] || fail "unmapped target was populated"
grep -q '"target":"unmapped".*id 70000 is not mapped' "$T/state/audit.jsonl" ||
	fail "no audit event for the unmapped uid"
pass "unmapped uid refused with a clear audit event"
stop_broker
assert_no_canary canary-userns-0d41

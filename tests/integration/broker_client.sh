#!/usr/bin/env bash
# The client against a real static target of the broker: `lockbox get`/`check` as the
# target's uid in a user namespace, refused for another uid, and `lockbox exec` picking up
# a rotation (--restart-on-rotate restarts the app once per rotation).
source "$(dirname "$0")/lib.sh" "$1"
need_root
[[ -x $LB_BIN/lockbox ]] || skip "static client not built"
make_userns 100000
# uid 1000 of the namespace runs the client: a copy it can reach wherever the build lives
# (a checkout in root's 0700 home is out of its reach), on a tmpfs that allows exec (/tmp
# may be noexec). cleanup unmounts it with the rest.
mkdir -p "$T/bin"
mount -t tmpfs -o mode=0755,size=8m tmpfs "$T/bin"
install -m 0755 "$LB_BIN/lockbox" "$T/bin/lockbox"

GRACE=5s write_basic_config
put_secret web/db_password "canary-cli-$$-1"
put_secret web/api_key "canary-cli-api"
start_broker
d=$T/run/t/demo
wait_for "first generation" 5 test -L "$d/..data"

got=$(as_user 1000 "$T/bin/lockbox" get db_password --dir "$d" --allow-writable) || fail "lockbox get as uid 1000"
assert_eq "$got" "canary-cli-$$-1" "lockbox get as uid 1000"
as_user 1000 "$T/bin/lockbox" check --dir "$d" --allow-writable >"$T/check.out" || fail "lockbox check: $(cat "$T/check.out")"
rc=0
as_user 1001 "$T/bin/lockbox" get db_password --dir "$d" --allow-writable >/dev/null 2>"$T/err" || rc=$?
assert_eq "$rc" "77" "lockbox get as uid 1001"
# uid 1001 cannot even read the manifest (issue 13 defect 11), or else not the file.
grep -qE 'db_password|\.manifest\.json' "$T/err" || fail "refusal does not name the file: $(cat "$T/err")"
# The static target's mount is read-only (issue 13 defect 8): no --allow-writable needed, and
# the owner cannot chmod its file to rewrite it.
got=$(as_user 1000 "$T/bin/lockbox" get db_password --dir "$d") || fail "lockbox get without --allow-writable"
assert_eq "$got" "canary-cli-$$-1" "lockbox get on the read-only static target"
rc=0
as_user 1000 chmod 0600 "$d/db_password" 2>"$T/err" || rc=$?
[[ $rc -ne 0 ]] || fail "the consumer could chmod its own secret file"
grep -qi "read-only" "$T/err" || fail "chmod failed for another reason: $(cat "$T/err")"
pass "lockbox get/check on a broker target: uid 1000 reads, uid 1001 is refused, the mount is read-only"

# exec with --restart-on-rotate: the app prints its secret at each start.
cat >"$T/app.sh" <<'SH'
#!/bin/sh
echo "start $(cat "$DB_PASSWORD_FILE")" >>"$1"
exec sleep 60
SH
chmod 0755 "$T/app.sh"
touch "$T/app.log"
chmod 0666 "$T/app.log"
as_user 1000 "$T/bin/lockbox" exec --dir "$d" --allow-writable --restart-on-rotate --grace 1s -- \
	/bin/sh "$T/app.sh" "$T/app.log" &
app=$!
wait_for "app started" 10 grep -q "start canary-cli-$$-1" "$T/app.log"
put_secret web/db_password "canary-cli-$$-2"
wait_for "app restarted on rotation" 15 grep -q "start canary-cli-$$-2" "$T/app.log"
sleep 1
assert_eq "$(grep -c start "$T/app.log")" "2" "app starts (one per generation)"
kill -TERM $app
wait $app || true
pass "lockbox exec --restart-on-rotate restarts once per broker rotation"
stop_broker
assert_no_canary "canary-cli-$$-1" --exclude=app.log

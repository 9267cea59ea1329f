#!/bin/bash
# Every verification refuses with its exit code and a message naming the check and the path.
. "$(dirname "$0")/lib.sh"
need_root

now_s=$(now)
exp=$((now_s + 3600))

as_user() { setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }

# Not a tmpfs: the same layout on ramfs (looks alike, but may be swapped out... or not
# be what the broker made).
mkdir "$T/ramfs"
mount -t ramfs -o mode=0755 ramfs "$T/ramfs" || skip "cannot mount ramfs"
W_SAVE=$W
W=$T/ramfs
lb_gen 1 db_password 'x' 0 0 0400 "$exp"
lb_publish 1
W=$W_SAVE
run_lb 77 "not a tmpfs" get db_password --dir "$T/ramfs" --allow-writable
expect_err "tmpfs check failed on $T/ramfs: not a tmpfs" "not a tmpfs"

# Writable mount.
lb_gen 1 db_password 'pw' 1000 1000 0400 "$exp" \
	old 'expired' 1000 1000 0400 $((now_s - 10)) \
	other 'not yours' 2000 2000 0444 "$exp" \
	closed 'not yours either' 2000 2000 0400 "$exp" \
	gw 'group writable' 1000 1000 0460 "$exp" \
	ow 'other writable' 0 0 0402 "$exp"
ln -s /etc/passwd "$W/..gen-1/leak"
mkfifo "$W/..gen-1/fifo"
python3 - "$W/..gen-1/.manifest.json" <<'PY'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
m["secrets"]["leak"] = {"version": "1"}
m["secrets"]["fifo"] = {"version": "1", "not_after": None}
open(p, "w").write(json.dumps(m))
PY
lb_publish 1
run_lb 77 "writable mount without --allow-writable" get db_password --dir "$W"
expect_err "read-only check failed on $W: mounted read-write" "writable mount"
run_lb 0 "writable mount with --allow-writable" get db_password --dir "$W" --allow-writable

# Per-file checks.
run_lb 77 "symlink inside the generation" get leak --dir "$D"
expect_err "beneath check failed on $D/..data/leak" "symlink to /etc/passwd"
run_lb 77 "not a regular file" get fifo --dir "$D"
expect_err "type check failed on $D/..data/fifo: not a regular file" "fifo"
OUT=$(as_user "$LOCKBOX" get other --dir "$D" 2>"$T/stderr")
RC=$? ERR=$(cat "$T/stderr")
[ $RC = 77 ] && pass "file owned by another uid (exit 77)" || fail "other uid: exit $RC"
expect_err "owner check failed on $D/..data/other: owned by uid 2000 gid 2000, caller is uid 1000" "other uid"
[ -z "$OUT" ] && pass "nothing printed for a refused file" || fail "refused file printed '$OUT'"
OUT=$(as_user "$LOCKBOX" get closed --dir "$D" 2>"$T/stderr")
RC=$? ERR=$(cat "$T/stderr")
[ $RC = 77 ] && pass "unreadable file of another uid (exit 77)" || fail "closed: exit $RC"
expect_err "permission check failed on $D/..data/closed: Permission denied" "unreadable file"
OUT=$(as_user "$LOCKBOX" get db_password --dir "$D" 2>&1)
[ "$OUT" = pw ] && pass "same layout, own file readable as uid 1000" || fail "own file: '$OUT'"
run_lb 77 "group-writable file" get gw --dir "$D"
expect_err "mode check failed on $D/..data/gw: writable by group or other (mode 0460)" "group-writable"
run_lb 77 "other-writable file" get ow --dir "$D"
expect_err "mode check failed on $D/..data/ow" "other-writable"
run_lb 65 "expired secret" get old --dir "$D"
expect_err "expiry check failed on $D/..data/old: expired" "expired"
run_lb 66 "missing name" get nope --dir "$D"
expect_err "secret check failed on $D/..data/nope: no such secret" "missing name"
run_lb 75 "wait timeout" wait db_password nope --dir "$D" --timeout 300ms
expect_err "wait check failed on $D/nope: timed out after 300 ms" "wait timeout"
run_lb 66 "wait --timeout 0 checks once" wait nope --dir "$D" --timeout 0
run_lb 65 "exec refuses an expired secret before running CMD" exec --dir "$D" -- touch "$T/ran"
expect_err "expiry check failed on $D/..data/old" "exec expired"
[ -e "$T/ran" ] && fail "CMD ran despite the refusal" || pass "CMD did not run"
run_lb 65 "check reports the first failure" check --dir "$D"
case $OUT in *"FAIL  expiry check failed on $D/..data/old"*) pass "check prints FAIL line" ;; *) fail "check output: $OUT" ;; esac
case $OUT in *"ok    secret $D/..data/db_password"*) pass "check goes on after a failure" ;; *) fail "check stopped: $OUT" ;; esac

# Malformed manifests, each in its own generation.
bad_manifest() {
	local gen=$1 what=$2 json=$3
	lb_gen "$gen" db_password 'pw' 1000 1000 0400 "$exp"
	chmod 0644 "$W/..gen-$gen/.manifest.json"
	printf '%s' "$json" >"$W/..gen-$gen/.manifest.json"
	chmod 0444 "$W/..gen-$gen/.manifest.json"
	lb_publish "$gen"
	run_lb 65 "malformed manifest: $what" get db_password --dir "$D"
	expect_err "manifest check failed on $D/..data/.manifest.json: " "malformed manifest: $what"
}
bad_manifest 2 "truncated" '{"generation":2,"secrets":{"db_password":{"not_after":'
bad_manifest 3 "trailing garbage" '{"secrets":{"db_password":{}}} x'
bad_manifest 4 "string not_after" '{"secrets":{"db_password":{"not_after":"soon"}}}'
bad_manifest 5 "no entry for the file" '{"generation":5,"secrets":{}}'
bad_manifest 6 "duplicate entry" '{"secrets":{"db_password":{},"db_password":{}}}'
bad_manifest 7 "bad escape" '{"secrets":{"db_password":{"source":"\q"}}}'
bad_manifest 8 "secrets not an object" '{"secrets":[]}'
bad_manifest 9 "deep nesting" "{\"x\":$(printf '[%.0s' {1..40})$(printf ']%.0s' {1..40}),\"secrets\":{}}"
bad_manifest 10 "empty" ''
run_lb 65 "malformed manifest message" get db_password --dir "$D"
expect_err "malformed JSON (not a JSON object at byte 0)" "malformed manifest names the fault"
# Too big: one byte over LB_MANIFEST_MAX.
lb_gen 11 db_password 'pw' 1000 1000 0400 "$exp"
chmod 0644 "$W/..gen-11/.manifest.json"
{ printf '{"pad":"'; head -c 262144 /dev/zero | tr '\0' a; printf '","secrets":{"db_password":{}}}'; } >"$W/..gen-11/.manifest.json"
lb_publish 11
run_lb 65 "oversized manifest" get db_password --dir "$D"
expect_err "larger than 262144 bytes" "oversized manifest"
# null and absent not_after mean no lease: readable.
lb_gen 12 db_password 'pw' 1000 1000 0400 none
chmod 0644 "$W/..gen-12/.manifest.json"
printf '{"generation":12,"secrets":{"db_password":{"version":"1","not_after":null}}}' >"$W/..gen-12/.manifest.json"
lb_publish 12
run_lb 0 "not_after null means no expiry" get db_password --dir "$D"
rm "$W/..gen-12/.manifest.json"
run_lb 65 "missing manifest" get db_password --dir "$D"
expect_err "manifest check failed on $D/..data/.manifest.json: missing" "missing manifest"

# Directory-level checks.
lb_reset
run_lb 66 "not populated yet" get db_password --dir "$D"
expect_err "data check failed on $D/..data: not populated yet" "not populated"
run_lb 66 "no such directory" get db_password --dir "$T/none"
expect_err "open check failed on $T/none" "no such directory"
lb_gen 1 db_password 'pw' 0 0 0400 "$exp"
lb_publish 1
chown 1000 "$W"
run_lb 77 "D not owned by root" get db_password --dir "$D"
expect_err "owner check failed on $D: owned by uid 1000, not root" "D owner"
chown 0 "$W"
chmod 0775 "$W"
run_lb 77 "D group-writable" get db_password --dir "$D"
expect_err "owner check failed on $D: writable by group or other (mode 0775)" "D mode"
chmod 0755 "$W"
chmod 0777 "$W/..gen-1"
run_lb 77 "generation dir writable" get db_password --dir "$D"
expect_err "owner check failed on $D/..data: writable by group or other" "generation mode"
chmod 0755 "$W/..gen-1"

# D/NAME, the path handed to the application, must be the link ..data/NAME.
ln -sfn ..gen-1/db_password "$W/db_password"
run_lb 77 "exec: NAME link bypassing ..data" exec --dir "$D" -- true
expect_err "link check failed on $D/db_password: points to ..gen-1/db_password, not ..data/db_password" "NAME link"
run_lb 77 "check: NAME link bypassing ..data" check --dir "$D"
rm "$W/db_password"
cp "$W/..gen-1/db_password" "$W/db_password"
run_lb 77 "wait: NAME is a file, not a link" wait db_password --dir "$D" --timeout 1s
expect_err "link check failed on $D/db_password: not a symlink" "NAME not a link"
rm "$W/db_password"
run_lb 75 "wait: NAME link missing" wait db_password --dir "$D" --timeout 200ms
expect_err "wait check failed on $D/db_password: timed out" "NAME link missing"
ln -s ..data/db_password "$W/db_password"
run_lb 0 "layout restored" exec --dir "$D" -- true

# ..data leaving D: absolute target, relative escape, and a target that is not a directory.
mkdir "$T/outside"
mount -t tmpfs -o mode=0755 tmpfs "$T/outside"
W_SAVE=$W
W=$T/outside
lb_gen 1 db_password 'planted' 0 0 0400 "$exp"
W=$W_SAVE
ln -sfn "$T/outside/..gen-1" "$W/..data"
run_lb 77 "..data pointing outside D (absolute)" get db_password --dir "$D"
expect_err "beneath check failed on $D/..data: resolves outside the directory" "absolute escape"
ln -sfn "../outside/..gen-1" "$W/..data"
run_lb 77 "..data pointing outside D (relative)" get db_password --dir "$D"
expect_err "beneath check failed on $D/..data" "relative escape"
ln -sfn "..gen-1/db_password" "$W/..data"
run_lb 77 "..data pointing at a file" get db_password --dir "$D"
expect_err "beneath check failed on $D/..data" "..data not a directory"

lb_finish

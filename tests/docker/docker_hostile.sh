#!/usr/bin/env bash
# A real dockerd and containers that attack lockboxd through what they control (issue 13):
# - defect 9: Config.User resolved as Docker (runc 1.1) does: `app:x: 1000:1000` runs as
#   uid 0, `--user 1005:` gets the primary gid from passwd; the files follow the real ids;
# - defect 7: a container with a 1.1 MB label does not drop the event stream; its start
#   and die events are still acted on;
# - defect 1: a container that replaced its /etc/passwd with a FIFO does not hang lockboxd
#   (reconcile after a broker restart, lockboxctl audit).
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
write_docker_config ',
    "open": { "secrets": { "db_password": "local:web/db_password" }, "require": [] }'
put_secret web/db_password "canary-hostile-$$"
start_broker

img=$DK/himg
mkdir -p "$img/etc"
musl-gcc -static -Os -o "$img/app" "$(dirname "$0")/app.c"
musl-gcc -static -Os -o "$img/hostile" "$(dirname "$0")/hostile.c"
cp "$LB_BIN/lockbox" "$img/lockbox"
printf 'root:x:0:0::/:/app\napp:x: 1000:1000::/:/app\nfive:x:1005:1006::/:/app\n' >"$img/etc/passwd"
printf 'root:x:0:\nsix:x:1006:\n' >"$img/etc/group"
chown 1000:1000 "$img/etc" "$img/etc/passwd"
tar -C "$img" -cf "$DK/himg.tar" .
dk import "$DK/himg.tar" lbhostile:1 >/dev/null

log_has() { dk logs "$1" 2>&1 | grep -F -- "$2" >/dev/null; }
run_app() { # USER [docker run options...]
	local user=$1
	shift
	dk run -d --network none --user "$user" "$@" --mount "$(secret_mount open)" lbhostile:1 \
		/lockbox exec --wait db_password --timeout 20s -- /app --seconds 60 /run/secrets/db_password
}
volume_of() { # CONTAINER -> its target (@KEY, one tmpfs per container and volume)
	ctl --json targets | jq -r --arg c "$1" '.targets[] | select(.container == $c) | .name'
}

# --- defect 9 ---
cid=$(run_app app)
wait_for "app reads its secret" 20 log_has "$cid" "canary-hostile-$$"
log_has "$cid" "uid=0 gid=1000" || fail "docker did not run 'app' as 0:1000: $(dk logs "$cid" 2>&1)"
f=$T/run/t/$(volume_of "$cid")/..data/db_password
assert_eq "$(stat -c '%u:%g' "$f")" "$REMAP_BASE:$((REMAP_BASE + 1000))" "owner for 'app:x: 1000:1000'"
dk rm -f "$cid" >/dev/null
pass "'app:x: 1000:1000' is uid 0 for Docker and for lockbox"

cid=$(run_app 1005:)
wait_for "app reads its secret" 20 log_has "$cid" "canary-hostile-$$"
log_has "$cid" "uid=1005 gid=1006" || fail "docker did not run '1005:' as 1005:1006: $(dk logs "$cid" 2>&1)"
f=$T/run/t/$(volume_of "$cid")/..data/db_password
assert_eq "$(stat -c '%u:%g' "$f")" "$((REMAP_BASE + 1005)):$((REMAP_BASE + 1006))" "owner for --user 1005:"
dk rm -f "$cid" >/dev/null
pass "--user 1005: takes the primary gid from passwd, as Docker does"

# --- defect 7 ---
# docker's --label-file reads lines of < 64 KiB: 20 labels of 55 KB make the 1.1 MB.
python3 -c 'print("\n".join("big%d=%s" % (i, "a" * 55000) for i in range(20)))' >"$T/labels"
cid=$(run_app 1005:1006 --label-file "$T/labels")
wait_for "app with a 1.1 MB label reads its secret" 20 log_has "$cid" "canary-hostile-$$"
vol=$(volume_of "$cid")
wait_for "the oversized event logged" 10 grep -q 'read without its attributes' "$T/lockboxd.log"
dk stop -t 1 "$cid" >/dev/null
wait_for "die of the labelled container retires its target" 20 \
	bash -c "! grep -q ' $T/run/t/$vol ' /proc/mounts"
grep -q 'event stream lost' "$T/lockboxd.log" && fail "the event stream was dropped"
dk rm -f "$cid" >/dev/null
pass "a 1.1 MB label does not drop the event stream; start and die still handled"

# --- defect 1 ---
cid=$(dk run -d --network none --user 1000 --mount "$(secret_mount open)" lbhostile:1 \
	/hostile fifo /etc/passwd 120)
wait_for "FIFO in place" 20 log_has "$cid" "fifo ready"
# A restarted broker reconciles: it inspects the container and reads its passwd again.
stop_broker || fail "lockboxd exited with status $?"
start_broker
wait_for "refusal naming the FIFO" 20 grep -q 'etc/passwd in the container is not a regular file' "$T/state/audit.jsonl"
timeout 20 "$LB_BIN/lockboxctl" --config "$CONF" status >/dev/null || fail "lockboxctl status hung"
timeout 20 "$LB_BIN/lockboxctl" --config "$CONF" audit "$cid" >/dev/null
rc=$?
((rc != 124)) || fail "lockboxctl audit of a container with a FIFO /etc/passwd hung"
cid2=$(run_app 1005:1006)
wait_for "another container still gets its secret" 20 log_has "$cid2" "canary-hostile-$$"
pass "a FIFO /etc/passwd is refused at once; lockboxd keeps serving"

# --- containers that die during a rotation (issue 19) ---
# Four containers of a binding with notify; two are killed while the rotation reaches them:
# the other two still get the new value and exactly one SIGHUP, lockboxd keeps serving and
# the next rotation reaches them again.
web=()
for _ in 1 2 3 4; do
	web+=("$(dk run -d --network none --user 1000 --mount "$(secret_mount web)" lbhostile:1 \
		/lockbox exec --wait db_password --timeout 20s -- /app --seconds 120 /run/secrets/db_password)")
done
for c in "${web[@]}"; do wait_for "web container reads its secret" 30 log_has "$c" "canary-hostile-$$"; done
sleep 1 # their first generations are delivered: the next one is a rotation
dk kill "${web[0]}" >/dev/null &
killer=$!
put_secret web/db_password "canary-hostile-$$-r1"
dk kill "${web[1]}" >/dev/null
wait "$killer" || true
for c in "${web[2]}" "${web[3]}"; do
	wait_for "a surviving container gets the rotation" 30 log_has "$c" "/run/secrets/db_password=canary-hostile-$$-r1"
	assert_eq "$(dk logs "$c" 2>&1 | grep -c '^SIGHUP$')" 1 "SIGHUPs of a survivor after one rotation"
done
timeout 20 "$LB_BIN/lockboxctl" --config "$CONF" status >/dev/null || fail "lockboxctl status after containers died mid-rotation"
put_secret web/db_password "canary-hostile-$$-r2"
for c in "${web[2]}" "${web[3]}"; do
	wait_for "the next rotation reaches a survivor" 30 log_has "$c" "/run/secrets/db_password=canary-hostile-$$-r2"
done
dk rm -f "${web[@]}" >/dev/null
pass "containers killed during a rotation: the others get it with one SIGHUP each, lockboxd keeps serving"

#!/usr/bin/env bash
# Restarts: lockboxd SIGKILLed while a container runs resumes it (a rotation made while it
# was down reaches the app); dockerd restarted with a --restart always container: the
# plugin answers, the container comes back and gets its secrets again; nothing orphaned.
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "canary-rs-$$-1"
start_broker
log_has() { dk logs "$1" 2>&1 | grep -F -- "$2" >/dev/null; }

cid=$(dk run -d --restart always --network none --user 1000 --mount "$(secret_mount web)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 30s -- /app --seconds 120 /run/secrets/db_password)
wait_for "app reads its secret" 20 log_has "$cid" "canary-rs-$$-1"

stop_broker KILL || true
# While lockboxd is down: an offline put into the same sealed store.
printf 'canary-rs-%s-2' $$ | "$LB_BIN/lockboxctl" --config "$CONF" secret put web/db_password | grep -q "not running" ||
	fail "offline put"
start_broker
wait_for "rotation after SIGKILL + restart reaches the app" 20 log_has "$cid" "canary-rs-$$-2"
pass "lockboxd SIGKILL + restart: the running container resumes and gets the rotation"

# dockerd goes down and comes back; the container restarts by policy.
old_pid=$(dk inspect -f '{{.State.Pid}}' "$cid")
stop_dockerd_keep() {
	kill -TERM "$DOCKERD_PID"
	for _ in $(seq 300); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
	DOCKERD_PID=
}
stop_dockerd_keep
wait_for "target retired when its container died" 20 bash -c "! ls '$T/run/t' | grep -q ."
start_dockerd
wait_for "container restarted by policy" 60 bash -c "[[ \$('$DOCKER_BIN' -H unix://$DK/docker.sock inspect -f '{{.State.Running}}' $cid) == true ]]"
new_pid=$(dk inspect -f '{{.State.Pid}}' "$cid")
[[ $new_pid != "$old_pid" ]] || fail "container did not restart"
wait_for "restarted container reads its secret" 30 bash -c "'$DOCKER_BIN' -H unix://$DK/docker.sock logs $cid 2>&1 | grep -c 'canary-rs-$$-2' | grep -q '^[2-9]'"
pass "dockerd restart: the plugin answered, the container restarted and got its secret again"

dk rm -f "$cid" >/dev/null
wait_for "no target left" 20 bash -c "! ls '$T/run/t' | grep -q ."
grep -q " $T/run/" /proc/mounts && fail "mounts left: $(grep " $T/run/" /proc/mounts)"
stop_broker
assert_no_canary "canary-rs-$$-2" --exclude-dir=d
pass "nothing orphaned"

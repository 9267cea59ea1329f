#!/usr/bin/env bash
# A real dockerd with --userns-remap: a container gets its secret through the lockbox
# volume, reads it as uid 1000 (host owner = the remapped uid), nothing leaks into
# inspect/history/environ, rotation reaches the app through `lockbox exec`, a broker
# restart resumes, stop wipes, unknown bindings are refused with a clear message.
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "canary-dk-$$-one"
start_broker

log_has() { dk logs "$1" 2>&1 | grep -F -- "$2" >/dev/null; }

cid=$(dk run -d --network none --user 1000 --cap-drop ALL --security-opt no-new-privileges \
	--read-only --mount "$(secret_mount web)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 60 /run/secrets/db_password)
wait_for "app reads its secret" 20 log_has "$cid" "/run/secrets/db_password=canary-dk-$$-one"
log_has "$cid" "uid=1000 gid=1000" || fail "app not running as 1000: $(dk logs "$cid" 2>&1)"
pass "container reads its secret as uid 1000 through lockbox exec"

vol=$(dk inspect -f '{{range .Mounts}}{{if eq .Driver "'"$DRIVER"'"}}{{.Name}}{{end}}{{end}}' "$cid")
[[ -n $vol ]] || fail "no lockbox volume in inspect"
f=$T/run/t/$vol/..data/db_password
assert_eq "$(stat -c '%u:%g %a' "$f")" "$((REMAP_BASE + 1000)):$((REMAP_BASE + 1000)) 400" "host owner of the secret"
findmnt -n -o OPTIONS --target "$T/run/m/$vol" | grep -q '^ro,' || fail "Mountpoint is not a read-only bind"
out=$(dk exec "$cid" /lockbox check 2>&1) || fail "lockbox check in the container: $out"
pass "host file owned by the remapped uid $((REMAP_BASE + 1000)); the container sees a read-only tmpfs"

pid=$(dk inspect -f '{{.State.Pid}}' "$cid")      # lockbox exec, PID 1 of the container
app=$(cat "/proc/$pid/task/$pid/children" | awk '{print $1}') # the app it runs
[[ -n $app ]] || fail "lockbox exec has no child"
for what in "inspect" "history" "environ"; do
	case $what in
	inspect) text=$(dk inspect "$cid") ;;
	history) text=$(dk history --no-trunc lbtest:1) ;;
	environ) text=$(cat "/proc/$pid/environ" "/proc/$app/environ" | tr "\\0" "\\n") ;;
	esac
	[[ $text != *canary-dk* ]] || fail "secret visible in $what"
done
tr '\0' '\n' <"/proc/$app/environ" | grep -q '^DB_PASSWORD_FILE=/run/secrets/db_password$' ||
	fail "DB_PASSWORD_FILE not exported to the app"
pass "nothing in docker inspect, docker history or /proc/PID/environ; the app gets DB_PASSWORD_FILE"

put_secret web/db_password "canary-dk-$$-two"
wait_for "rotation reaches the app" 15 log_has "$cid" "/run/secrets/db_password=canary-dk-$$-two"
log_has "$cid" "SIGHUP" || fail "app got no SIGHUP"
grep -q '"event":"notify"' "$T/state/audit.jsonl" || fail "no notify audit event"
pass "rotation: new generation, SIGHUP through the kill API and lockbox exec"

stop_broker TERM
start_broker
sleep 1
put_secret web/db_password "canary-dk-$$-three"
wait_for "rotation after a broker restart" 15 log_has "$cid" "/run/secrets/db_password=canary-dk-$$-three"
pass "broker restart resumes the running container"

if out=$(dk run --rm --network none --mount "$(secret_mount nope)" lbtest:1 /app --seconds 1 2>&1); then
	fail "a container with an unknown binding ran"
fi
[[ $out == *'lockbox: unknown binding "nope"'* ]] || fail "docker run did not show the reason: $out"
pass "unknown binding refused: $(echo "$out" | grep -o 'lockbox: unknown binding[^.]*' | head -1)"

dk stop -t 2 "$cid" >/dev/null
wait_for "tmpfs wiped and unmounted" 10 bash -c "! grep -q ' $T/run/t/$vol ' /proc/mounts"
grep -q " $T/run/m/$vol " /proc/mounts && fail "read-only bind left mounted"
grep -q "\"event\":\"target_removed\",\"target\":\"$vol\"" "$T/state/audit.jsonl" || fail "no target_removed event"
pass "docker stop: target wiped and unmounted"

# docker run --rm: Create, Mount, start, die, Unmount, Remove — nothing left behind.
out=$(dk run --rm --network none --user 1000 --mount "$(secret_mount web)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 1 /run/secrets/db_password)
[[ $out == *"canary-dk-$$-three"* ]] || fail "docker run --rm did not read the secret: $out"
wait_for "anonymous volume removed" 10 bash -c "[[ \$(ls '$T/run/t' | wc -l) == 0 ]]"
pass "docker run --rm leaves no target behind"

stop_broker
for v in one two three; do assert_no_canary "canary-dk-$$-$v" --exclude-dir=d; done
pass "no canary in lockboxd logs, audit or state"

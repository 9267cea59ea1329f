#!/usr/bin/env bash
# A real dockerd with --userns-remap: a container gets its secret through the lockbox
# volume, reads it as uid 1000 (host owner = the remapped uid), nothing leaks into
# inspect/history/environ, rotation reaches the app through `lockbox exec`, a broker
# restart resumes, stop wipes, unknown bindings are refused with a clear message.
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
build_image lbtest:1
write_docker_config ',
    "nosecret": { "secrets": { "db_password": "local:nosecret/db_password" } }'
put_secret web/db_password "canary-dk-$$-one"
start_broker

log_has() { dk logs "$1" 2>&1 | grep -F -- "$2" >/dev/null; }

cid=$(dk run -d --network none --user 1000 --cap-drop ALL --security-opt no-new-privileges \
	--read-only --mount "$(secret_mount web)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 60 /run/secrets/db_password)
wait_for "app reads its secret" 20 log_has "$cid" "/run/secrets/db_password=canary-dk-$$-one"
log_has "$cid" "uid=1000 gid=1000" || fail "app not running as 1000: $(dk logs "$cid" 2>&1)"
pass "container reads its secret as uid 1000 through lockbox exec"

vol=$(ls "$T/run/t") # the target: @ and dockerd's mount ID
[[ $vol == @* && $vol != *$'\n'* ]] || fail "one target @KEY expected in run/t: $vol"
f=$T/run/t/$vol/..data/db_password
assert_eq "$(stat -c '%u:%g %a' "$f")" "$((REMAP_BASE + 1000)):$((REMAP_BASE + 1000)) 400" "host owner of the secret"
findmnt -n -o OPTIONS --target "$T/run/m/$vol" | grep -q '^ro,' || fail "Mountpoint is not a read-only bind"
out=$(dk exec "$cid" /lockbox check 2>&1) || fail "lockbox check in the container: $out"
pass "host file owned by the remapped uid $((REMAP_BASE + 1000)); the container sees a read-only tmpfs"

pid=$(dk inspect -f '{{.State.Pid}}' "$cid")      # lockbox exec, PID 1 of the container
app=$(awk '{print $1}' "/proc/$pid/task/$pid/children") # the app it runs
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

# An image with its own /run/secrets (content dockerd copies into a new volume at create):
# no volume-nocopy needed, and none of the image's files land in the secrets tmpfs.
mkdir -p "$DK/img/run/secrets"
echo image-content >"$DK/img/run/secrets/from-image"
tar -C "$DK/img" -cf "$DK/img2.tar" .
dk import "$DK/img2.tar" lbtest:2 >/dev/null
out=$(dk run --rm --network none --user 1000 --mount "$(secret_mount web)" lbtest:2 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 0 /run/secrets/db_password /run/secrets/from-image 2>&1) ||
	fail "image with /run/secrets: $out"
[[ $out == *"canary-dk-$$-three"* ]] || fail "image with /run/secrets did not read the secret: $out"
[[ $out == *"cannot open /run/secrets/from-image"* ]] || fail "the image's file is in the secrets tmpfs: $out"
out=$(dk run --rm --network none --user 1000 --mount "$(secret_mount web),volume-nocopy" lbtest:2 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 0 /run/secrets/db_password 2>&1) ||
	fail "volume-nocopy: $out"
[[ $out == *"canary-dk-$$-three"* ]] || fail "volume-nocopy: $out"
pass "an image with its own /run/secrets works without volume-nocopy (nothing copied), and with it"

# A secret that does not exist: the client says which and why (lockboxd's ..status.json).
rc=0
out=$(dk run --rm --network none --user 1000 --mount "$(secret_mount nosecret)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 3s -- /app --seconds 0 2>&1) || rc=$?
assert_eq "$rc" 75 "exit status of lockbox exec when a secret never comes"
[[ $out == *"timed out after 3000 ms (missing: db_password)"* ]] || fail "timeout message: $out"
[[ $out == *'lockboxd says: '*'"db_password":{"error":"'*'nosecret/db_password'*'"state":"failed"'* ]] ||
	fail "the store's error is not shown: $out"
pass "missing secret: $(grep -o 'lockboxd says: .*' <<<"$out")"
nc=$(dk run -d --network none --user 1000 --mount "$(secret_mount nosecret)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 60s -- /app --seconds 0)
targets_say_failed() { ctl targets --wide | grep -E "^[a-z_]+ +${nc:0:12}[0-9a-f]* .* db_password failed: sealed secret nosecret/db_password does not exist"; }
wait_for "lockboxctl targets shows why" 20 targets_say_failed
row=$(targets_say_failed)
dk rm -f -v "$nc" >/dev/null
pass "lockboxctl targets shows the same: $(grep -o 'db_password failed.*' <<<"$row")"

# docker restart: dockerd unmounts (lockboxd answers at once and retires the tmpfs on its next
# turn) and mounts again with a new mount ID: a fresh tmpfs, the old one gone.
reads() { dk logs "$cid" 2>&1 | grep -c "/run/secrets/db_password=canary-dk-$$-three" || true; }
read_again() { (($(reads) > n_reads)); } # counted at each try, not once when wait_for is called
n_reads=$(reads)
dk restart -t 2 "$cid" >/dev/null
wait_for "the restarted app reads its secret" 20 read_again
old=$vol vol=$(ls "$T/run/t")
[[ $vol == @* && $vol != *$'\n'* && $vol != "$old" ]] || fail "one new target expected in run/t: $vol"
grep -q " $T/run/[tm]/$old " /proc/mounts && fail "the old tmpfs or bind is still mounted"
assert_eq "$(grep -c "\"event\":\"target_removed\",\"target\":\"$old\"" "$T/state/audit.jsonl")" 1 \
	"target_removed events of the old target"
pass "docker restart: the old tmpfs retired once, the new mount has its own, secret read again"

dk stop -t 2 "$cid" >/dev/null
wait_for "tmpfs wiped and unmounted" 10 bash -c "! grep -q ' $T/run/t/$vol ' /proc/mounts"
grep -q " $T/run/m/$vol " /proc/mounts && fail "read-only bind left mounted"
grep -q "\"event\":\"target_removed\",\"target\":\"$vol\"" "$T/state/audit.jsonl" || fail "no target_removed event"
pass "docker stop: target wiped and unmounted"
dk rm -v "$cid" >/dev/null

# docker run --rm: Create, Mount, start, die, Unmount, Remove — nothing left behind.
out=$(dk run --rm --network none --user 1000 --mount "$(secret_mount web)" lbtest:1 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 1 /run/secrets/db_password)
[[ $out == *"canary-dk-$$-three"* ]] || fail "docker run --rm did not read the secret: $out"
wait_for "anonymous volume removed" 10 bash -c "[[ \$(ls '$T/run/t' | wc -l) == 0 ]]"
wait_for "no bind left" 10 bash -c "[[ \$(ls '$T/run/m' | wc -l) == 0 ]]"
assert_eq "$(jq -c . "$T/state/docker-volumes.json")" "{}" "volume records after docker run --rm"
pass "docker run --rm leaves no target behind"

stop_broker
for v in one two three; do assert_no_canary "canary-dk-$$-$v" --exclude-dir=d; done
pass "no canary in lockboxd logs, audit or state"

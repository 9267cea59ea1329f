#!/usr/bin/env bash
# Population before start must never give a container another container's ids (issue 11).
# A Mount does not say which container it is for; lockboxd guesses only when every container
# that may be the one has the same ids. Two cases:
# 1. a stopped container (uid 1001) started again (no create event) beside a container
#    created and not started (uid 1000): its Mount must not get uid 1000;
# 2. pairs of containers with different users (1000, 1001) started at the same moment on
#    one new named volume, 20 times: each reads its secret as its own user from a tmpfs
#    whose files its own user owns.
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "canary-er-$$"
start_broker

APP=(/lockbox exec --wait db_password --timeout 20s -- /app --seconds 30 /run/secrets/db_password)

# The host owner (uid:gid) of the secret in the tmpfs container C has at /run/secrets.
secret_owner() { # C
	local pid dev t
	pid=$(dk inspect -f '{{.State.Pid}}' "$1")
	[[ $pid -gt 0 ]] || return 1
	dev=$(awk '$5 == "/run/secrets" {d = $3} END {print d}' "/proc/$pid/mountinfo")
	[[ -n $dev ]] || return 1
	for t in "$T"/run/t/@*; do
		if [[ $(mountpoint -d "$t" 2>/dev/null) == "$dev" ]]; then
			stat -c %u:%g "$t/..data/db_password"
			return
		fi
	done
	return 1
}

now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# C (running) printed the secret as UID since SINCE (taken before it started: the app
# prints before dockerd's StartedAt), and its file belongs to UID's remapped id.
check_reads() { # C UID SINCE WHAT
	local c=$1 uid=$2 since=$3 deadline=$((SECONDS + 30)) out
	until out=$(dk logs --since "$since" "$c" 2>&1) && [[ $out == *"/run/secrets/db_password=canary-er-$$"* ]]; do
		if [[ $(dk inspect -f '{{.State.Running}}' "$c") != true ]] || ((SECONDS >= deadline)); then
			fail "$4: container $c (uid $uid) did not read its secret ($(dk inspect -f 'exit {{.State.ExitCode}}' "$c")): $out"
		fi
		sleep 0.1
	done
	[[ $out == *"uid=$uid gid=$uid"* ]] || fail "$4: container $c does not run as $uid: $out"
	assert_eq "$(secret_owner "$c")" "$((REMAP_BASE + uid)):$((REMAP_BASE + uid))" \
		"$4: host owner of the secret of container $c (uid $uid)"
}

# 1. A stopped container started again beside one created and not started, with other ids.
dk volume create -d "$DRIVER" -o binding=web race0 >/dev/null
dk create --name again --network none --user 1001 -v race0:/run/secrets lbtest:1 "${APP[@]}" >/dev/null
t0=$(now)
dk start again >/dev/null
check_reads again 1001 "$t0" "first start"
dk stop -t 1 again >/dev/null
stop_broker TERM # a new lockboxd knows nothing of the ids this volume had
start_broker
dk create --name waiting --network none --user 1000 -v race0:/run/secrets lbtest:1 "${APP[@]}" >/dev/null
connected() { ctl --json status | jq -e '.docker.connected == true' >/dev/null; }
wait_for "lockboxd connected to dockerd" 20 connected
sleep 1 # the create event of the waiting container is read and inspected
t0=$(now)
dk start again >/dev/null
check_reads again 1001 "$t0" "started again beside a created container of uid 1000"
t0=$(now)
dk start waiting >/dev/null
check_reads waiting 1000 "$t0" "the created container started"
dk rm -f again waiting >/dev/null
pass "a stopped container started again gets its own ids, not those of a created one"

# 2. Pairs at the same moment.
pairs=20
for i in $(seq "$pairs"); do
	dk volume create -d "$DRIVER" -o binding=web "race$i" >/dev/null
	t0=$(now)
	dk run -d --name "a$i" --network none --user 1000 -v "race$i:/run/secrets" lbtest:1 "${APP[@]}" >/dev/null &
	pa=$!
	dk run -d --name "b$i" --network none --user 1001 -v "race$i:/run/secrets" lbtest:1 "${APP[@]}" >/dev/null &
	pb=$!
	wait "$pa" || fail "pair $i: docker run --user 1000 failed"
	wait "$pb" || fail "pair $i: docker run --user 1001 failed"
	check_reads "a$i" 1000 "$t0" "pair $i"
	check_reads "b$i" 1001 "$t0" "pair $i"
	dk rm -f "a$i" "b$i" >/dev/null
	dk volume rm "race$i" >/dev/null
done
early=$(grep -c '"reason":"mount"' "$T/state/audit.jsonl" || true)
pass "$pairs pairs of users 1000 and 1001 on one new volume at the same moment: each reads its own (populated at Mount: $early)"

wait_for "no mount left" 20 bash -c "! grep -q ' $T/run/[mt]/' /proc/mounts"
dk volume rm race0 >/dev/null
wait_for "no volume record left" 10 bash -c "[[ \$(jq -c . '$T/state/docker-volumes.json') == '{}' ]]"
pass "nothing left behind"

stop_broker
assert_no_canary "canary-er-$$" --exclude-dir=d
pass "no canary in lockboxd logs, audit or state"

#!/usr/bin/env bash
# `docker stack deploy` on a single-node swarm of the private dockerd, with deploy/compose.yaml
# as shipped (image and driver names adapted): 3 replicas of one named lockbox volume each read
# their own secret; a killed replica is rescheduled and reads it; a rotation reaches every
# replica with one SIGHUP each; `stack rm` leaves no mount, tmpfs or volume record behind.
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "canary-st-$$-one"
start_broker
SWARM=
# swarm leave was seen to hang for good (libnetwork retrying an ingress endpoint): bounded.
leave_swarm() {
	[[ -z $SWARM ]] || timeout 30 "$DOCKER_BIN" -H "unix://$DK/docker.sock" swarm leave --force \
		>/dev/null 2>&1 || true
}
trap 'rc=$?; leave_swarm; (exit $rc); docker_cleanup' EXIT
dk swarm init --advertise-addr 127.0.0.1 >"$T/swarm.log" 2>&1 || skip "no swarm here: $(tail -1 "$T/swarm.log")"
SWARM=1

# deploy/compose.yaml with the test's image, driver and a command that prints the secret.
sed -e "s|registry.example/web:1|lbtest:1|; s|driver: lockbox|driver: $DRIVER|" \
	"$(dirname "$0")/../../deploy/compose.yaml" >"$T/stack.yml"
python3 - "$T/stack.yml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  web:\n", "  web:\n    command: [/lockbox, exec, --wait, db_password, --timeout, 20s, --, /app, --seconds, \"600\", /run/secrets/db_password]\n", 1)
s = s.replace("replicas: 2", "replicas: 3")
open(p, "w").write(s)
PY
grep -q "replicas: 3" "$T/stack.yml" || fail "deploy/compose.yaml has no deploy.replicas to scale"

tasks() { dk ps -q --filter label=com.docker.swarm.service.name=lbs_web | sort; }
all_read() { # VALUE
	local c n=0
	for c in $(tasks); do
		out=$(dk exec "$c" /lockbox get db_password 2>&1) || { echo "$c: $out" >"$T/last_read"; return 1; }
		[[ $out == "$1" ]] || { echo "$c: $out" >"$T/last_read"; return 1; }
		n=$((n + 1))
	done
	[[ $n -eq 3 ]] || { echo "$n running tasks" >"$T/last_read"; return 1; }
}
read_all() { # VALUE WHAT
	local deadline=$((SECONDS + 60))
	until all_read "$1"; do
		((SECONDS < deadline)) || fail "$2: $(cat "$T/last_read")"
		sleep 0.5
	done
}

dk stack deploy -c "$T/stack.yml" lbs >"$T/deploy.log" 2>&1 || fail "stack deploy: $(cat "$T/deploy.log")"

read_all "canary-st-$$-one" "3 replicas read their secret"
# shellcheck disable=SC2012 # target names are @ID or config names: one line each
assert_eq "$(ls "$T/run/t" | wc -l)" 3 "tmpfs for three replicas"
pass "docker stack deploy, 3 replicas: each reads its own secret"

victim=$(tasks | head -1)
dk kill "$victim" >/dev/null
wait_for "killed replica's target retired" 20 bash -c "[[ \$(ls '$T/run/t' | wc -l) -le 3 ]]"
read_all "canary-st-$$-one" "after a replica was killed and rescheduled"
tasks | grep -qx "$victim" && fail "the killed replica still runs"
pass "a killed replica is rescheduled and reads its secret; the others keep theirs"

put_secret web/db_password "canary-st-$$-two"
read_all "canary-st-$$-two" "rotation"
sleep 2 # a second signal would have arrived by now
for c in $(tasks); do
	assert_eq "$(dk logs "$c" 2>&1 | grep -c SIGHUP || true)" 1 "SIGHUPs in replica $c"
done
pass "rotation reaches every replica with exactly one SIGHUP"

dk stack rm lbs >/dev/null
wait_for "tasks gone" 60 bash -c "[[ -z \$('$DOCKER_BIN' -H unix://$DK/docker.sock ps -aq --filter label=com.docker.swarm.service.name=lbs_web) ]]"
wait_for "no mount left" 20 bash -c "! grep -q ' $T/run/' /proc/mounts"
# shellcheck disable=SC2010 # target and mount names are @ID or config names: one line each
assert_eq "$(ls "$T/run/t" "$T/run/m" | grep -c '@' || true)" 0 "tmpfs or binds left"
mounts_empty() { [[ $(jq -c . "$T/run/docker-mounts.json") == "{}" ]]; }
wait_for "no mount record left: $(cat "$T/run/docker-mounts.json")" 10 mounts_empty
assert_eq "$(dk volume ls -q)" "lbs_web-secrets" "volumes dockerd keeps after stack rm (one, as for any driver)"
dk volume rm lbs_web-secrets >/dev/null
volumes_empty() { [[ $(jq -c . "$T/state/docker-volumes.json") == "{}" ]]; }
wait_for "no volume record left: $(cat "$T/state/docker-volumes.json")" 10 volumes_empty
pass "stack rm (and volume rm of what swarm keeps) leaves no mount, tmpfs or volume record"

stop_broker
for v in one two; do assert_no_canary "canary-st-$$-$v" --exclude-dir=d; done
pass "no canary in lockboxd logs, audit or state"

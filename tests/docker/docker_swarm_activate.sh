#!/usr/bin/env bash
# A swarm node schedules lockbox volumes from the start: the swarm exists before lockboxd
# starts and nobody uses the driver by hand, yet `docker stack deploy` runs its tasks (lockboxd
# has dockerd load its driver when it connects, and the node reports it). It stays so across a
# lockboxd restart and a dockerd restart (dockerd forgets legacy plugins when it restarts).
source "$(dirname "$0")/lib.sh" "$1"

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "canary-sa-$$"
# No `swarm leave` at the end: the data-root goes with the test, and a leave right after init
# was seen hanging for good (libnetwork retrying an ingress endpoint), and dockerd with it.
dk swarm init --advertise-addr 127.0.0.1 >"$T/swarm.log" 2>&1 || skip "no swarm here: $(tail -1 "$T/swarm.log")"
node_plugins() { dk node inspect self --format '{{json .Description.Engine.Plugins}}'; }
node_plugins | grep -q "\"$DRIVER\"" && fail "the node reports $DRIVER before lockboxd ran"
start_broker

cat >"$T/stack.yml" <<YML
version: "3.8"
services:
  web:
    image: lbtest:1
    user: "1000:1000"
    command: [/lockbox, exec, --wait, db_password, --timeout, 20s, --, /app, --seconds, "600", /run/secrets/db_password]
    volumes: [{type: volume, source: secrets, target: /run/secrets}]
    deploy: {replicas: 2}
volumes:
  secrets: {driver: $DRIVER, driver_opts: {binding: web}}
YML

running_reading() { # N: N tasks run and read the secret
	local c n=0
	for c in $(dk ps -q --filter label=com.docker.swarm.service.name=lba_web); do
		[[ $(dk exec "$c" /lockbox get db_password 2>&1) == "canary-sa-$$" ]] || return 1
		n=$((n + 1))
	done
	[[ $n -eq $1 ]]
}
pending_why() {
	dk service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' lba_web 2>&1 | sort | uniq -c | head -3
}
wait_tasks() { # N WHAT (the swarm agent re-describes its node every 20 s)
	local deadline=$((SECONDS + 90))
	until running_reading "$1"; do
		((SECONDS < deadline)) || fail "$2: $(pending_why); node plugins: $(node_plugins)"
		sleep 1
	done
}

wait_for "the node reporting volume driver $DRIVER" 60 bash -c "'$DOCKER_BIN' -H unix://$DK/docker.sock node inspect self --format '{{json .Description.Engine.Plugins}}' | grep -q '\"$DRIVER\"'"
grep -q "dockerd has loaded volume driver .*$DRIVER" "$T/lockboxd.log" || fail "lockboxd did not log the activation"
dk stack deploy -c "$T/stack.yml" lba >"$T/deploy.log" 2>&1 || fail "stack deploy: $(cat "$T/deploy.log")"
wait_tasks 2 "tasks of a stack deployed on a fresh node"
pass "fresh swarm node: lockboxd started after swarm init, stack deploy schedules without a first use"

stop_broker
start_broker
dk service scale lba_web=3 >/dev/null 2>&1 || fail "service scale"
wait_tasks 3 "a third task after a lockboxd restart"
pass "after a lockboxd restart the node takes new tasks"

stop_dockerd
start_dockerd
wait_for "lockboxd reconnected" 60 bash -c "[[ \$(grep -c 'dockerd has loaded volume driver' '$T/lockboxd.log') -ge 2 ]]"
wait_tasks 3 "tasks after a dockerd restart"
node_plugins | grep -q "\"$DRIVER\"" || fail "node plugins after a dockerd restart: $(node_plugins)"
pass "after a dockerd restart the node reports the driver again and runs the tasks"

dk stack rm lba >/dev/null
wait_for "tasks gone" 60 bash -c "[[ -z \$('$DOCKER_BIN' -H unix://$DK/docker.sock ps -aq --filter label=com.docker.swarm.service.name=lba_web) ]]"
wait_for "no mount left" 20 bash -c "! grep -q ' $T/run/' /proc/mounts"
stop_broker
assert_no_canary "canary-sa-$$" --exclude-dir=d
pass "stack rm leaves no mount; no canary in logs, audit or state"

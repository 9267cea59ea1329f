#!/usr/bin/env bash
# docker-compose (Debian's 1.29) with one named lockbox volume shared by a scaled service and a
# second service with another user: every container has its own tmpfs owned by its user;
# scale 3 -> 2 -> 3, a one-off `run`, --force-recreate keep every live container's secret;
# a rotation reaches each container with exactly one SIGHUP; `down -v` leaves nothing.
source "$(dirname "$0")/lib.sh" "$1"
command -v docker-compose >/dev/null || skip "docker-compose not installed (apt-get install docker-compose)"

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "canary-co-$$-one"
start_broker

P=$T/proj
mkdir -p "$P"
cat >"$P/docker-compose.yml" <<YAML
version: "3.7"
services:
  web:
    image: lbtest:1
    network_mode: none
    user: "1000"
    command: [/lockbox, exec, --wait, db_password, --timeout, 20s, --, /app, --seconds, "600", /run/secrets/db_password]
    volumes: [ "secrets:/run/secrets" ]
  other:
    image: lbtest:1
    network_mode: none
    user: "1001:1001"
    command: [/lockbox, exec, --wait, db_password, --timeout, 20s, --, /app, --seconds, "600", /run/secrets/db_password]
    volumes: [ "secrets:/run/secrets" ]
volumes:
  secrets:
    driver: $DRIVER
    driver_opts: { binding: web }
YAML
dc() { DOCKER_HOST=unix://$DK/docker.sock COMPOSE_PROJECT_NAME=lbco docker-compose -f "$P/docker-compose.yml" "$@"; }
ids() { dk ps -q --no-trunc --filter label=com.docker.compose.service="$1" | sort; }
# Every running container of the project reads the current value as its own user.
all_read() { # VALUE
	local c n=0
	for c in $(dk ps -q --filter label=com.docker.compose.project=lbco); do
		out=$(dk exec "$c" /lockbox get db_password 2>&1) || { echo "$c: $out" >"$T/last_read"; return 1; }
		[[ $out == "$1" ]] || { echo "$c: $out" >"$T/last_read"; return 1; }
		n=$((n + 1))
	done
	[[ $n -gt 0 ]]
}
read_all() { # VALUE WHAT
	local deadline=$((SECONDS + 20))
	until all_read "$1"; do
		((SECONDS < deadline)) || fail "$2: not every container reads its secret: $(cat "$T/last_read")"
		sleep 0.2
	done
}

dc up -d --scale web=3 >"$T/dc.log" 2>&1 || fail "compose up: $(cat "$T/dc.log")"
assert_eq "$(ids web | wc -l)" 3 "web containers"
read_all "canary-co-$$-one" "scale 3"
# shellcheck disable=SC2012 # target names are @ID or config names: one line each
assert_eq "$(ls "$T/run/t" | wc -l)" 4 "tmpfs for four containers"
assert_eq "$(stat -c %u "$T"/run/t/@*/..data/db_password | sort | uniq -c | awk '{print $1 "x" $2}' | tr '\n' ' ')" \
	"3x$((REMAP_BASE + 1000)) 1x$((REMAP_BASE + 1001)) " "owners of the four copies"
pass "compose up --scale web=3 + a service with another user: four tmpfs, each reads its secret"

dc up -d --scale web=2 >"$T/dc.log" 2>&1 || fail "compose scale 2: $(cat "$T/dc.log")"
assert_eq "$(ids web | wc -l)" 2 "web containers after scale 2"
sleep 1 # the removed container's die/destroy events have been handled
read_all "canary-co-$$-one" "scale 3 -> 2"
pass "scale 3 -> 2: the remaining containers keep their secret"

dc up -d --scale web=3 >"$T/dc.log" 2>&1 || fail "compose scale 3: $(cat "$T/dc.log")"
read_all "canary-co-$$-one" "scale 2 -> 3"
pass "scale 2 -> 3: every container reads its secret"

first=$(ids web | head -1)
dk restart -t 1 "$first" >/dev/null
read_all "canary-co-$$-one" "docker restart of one container"
pass "docker restart of one container: it gets a fresh tmpfs, the others keep theirs"

out=$(dc run --rm --no-deps web /lockbox exec --wait db_password --timeout 20s -- \
	/app --seconds 0 /run/secrets/db_password 2>&1) || fail "one-off run: $out"
[[ $out == *"canary-co-$$-one"* ]] || fail "one-off run did not read the secret: $out"
sleep 1
read_all "canary-co-$$-one" "after a one-off run"
pass "a one-off docker-compose run reads the secret; the service keeps its secrets after it exits"

put_secret web/db_password "canary-co-$$-two"
read_all "canary-co-$$-two" "rotation"
for c in $(ids web) $(ids other); do
	wait_for "SIGHUP in $c" 10 bash -c "'$DOCKER_BIN' -H unix://$DK/docker.sock logs $c 2>&1 | grep -q SIGHUP"
done
sleep 2 # a second signal would have arrived by now
for c in $(ids web) $(ids other); do
	n=$(dk logs "$c" 2>&1 | grep -c SIGHUP || true)
	assert_eq "$n" 1 "SIGHUPs in container $c"
	dk logs "$c" 2>&1 | grep -qF "/run/secrets/db_password=canary-co-$$-two" || fail "app in $c did not reread"
done
pass "rotation: all four containers read the new value, each got exactly one SIGHUP"

out=$(ctl targets --wide)
for c in lbco_web_1 lbco_web_2 lbco_web_3 lbco_other_1; do
	grep -qE "^$c +[0-9a-f]{64} +lbco_secrets +web " <<<"$out" || fail "no row for $c in lockboxctl targets: $out"
done
assert_eq "$(grep -c lbco_secrets <<<"$out")" 4 "rows of lockboxctl targets"
ctl rotate lbco_web_1 >/dev/null || fail "lockboxctl rotate CONTAINER"
ctl rotate "$(ids other | cut -c1-12)" >/dev/null || fail "lockboxctl rotate CONTAINER-ID"
pass "lockboxctl targets: one row per container (name, id, volume, binding); rotate takes a container name or id"

dc up -d --force-recreate --scale web=2 >"$T/dc.log" 2>&1 || fail "force-recreate: $(cat "$T/dc.log")"
read_all "canary-co-$$-two" "force-recreate"
pass "--force-recreate: the new containers read their secret"

dc down -v >"$T/dc.log" 2>&1 || fail "compose down -v: $(cat "$T/dc.log")"
wait_for "no mount left" 20 bash -c "! grep -q ' $T/run/' /proc/mounts"
wait_for "no target left" 10 bash -c "[[ -z \$(ls '$T/run/t') ]]"
[[ $(dk volume ls -q | wc -l) == 0 ]] || fail "volumes left: $(dk volume ls)"
assert_eq "$(jq -c . "$T/state/docker-volumes.json")" "{}" "volume records after down -v"
pass "compose down -v: no mount, no tmpfs, no volume record left"

# deploy/compose.yaml as shipped (image and driver names adapted, a command that prints the
# secret added by an override file).
sed -e "s|registry.example/web:1|lbtest:1|; s|driver: lockbox|driver: $DRIVER|" \
	"$(dirname "$0")/../../deploy/compose.yaml" >"$P/compose.yaml"
cat >"$P/override.yaml" <<'YAML'
version: "3.8"
services:
  web:
    network_mode: none
    command: [/lockbox, exec, --wait, db_password, --timeout, 20s, --, /app, --seconds, "600", /run/secrets/db_password]
YAML
dd() { DOCKER_HOST=unix://$DK/docker.sock COMPOSE_PROJECT_NAME=lbdep docker-compose -f "$P/compose.yaml" -f "$P/override.yaml" "$@"; }
dd up -d >"$T/dc.log" 2>&1 || fail "deploy/compose.yaml: $(cat "$T/dc.log")"
c=$(dk ps -q --filter label=com.docker.compose.project=lbdep | head -1)
[[ -n $c ]] || fail "deploy/compose.yaml started nothing: $(cat "$T/dc.log")"
wait_for "deploy/compose.yaml's app reads its secret" 20 bash -c "'$DOCKER_BIN' -H unix://$DK/docker.sock logs $c 2>&1 | grep -qF 'canary-co-$$-two'"
dd down -v >"$T/dc.log" 2>&1 || fail "deploy/compose.yaml down -v: $(cat "$T/dc.log")"
wait_for "no volume record left" 10 bash -c "[[ \$(jq -c . '$T/state/docker-volumes.json') == '{}' ]]"
pass "deploy/compose.yaml works with docker-compose up and down -v"

stop_broker
for v in one two; do assert_no_canary "canary-co-$$-$v" --exclude-dir=d; done
pass "no canary in lockboxd logs, audit or state"

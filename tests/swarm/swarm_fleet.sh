#!/usr/bin/env bash
# Docker Swarm across NODES nodes (default 3) built on this machine (fleet_lib.sh), every node with
# its own dockerd and lockboxd, one shared Vault (issue 16):
# - every node reports the lockbox driver from the start (no manual first use);
# - a global service and a replicated one (3, then 9 replicas) with the lockbox mount and
#   `lockbox exec` as entrypoint: every task reads its secret as its own user;
# - a Vault change + `lockboxctl rotate` on every node reaches every task with one SIGHUP
#   each, and each node reads the secret from Vault once however many tasks it serves;
# - `docker node update --availability drain`: the tasks move, the drained node wipes their
#   tmpfs and revokes their leases, the receiving nodes deliver before the apps start;
# - SIGKILL of one node's lockboxd keeps its tasks' files; restarted, it rotates them again;
# - a node whose lockboxd is down refuses new tasks with an error naming the plugin.
source "$(dirname "$0")/fleet_lib.sh" "$1"
START=$SECONDS

fleet_up '{
    "secret/": {"type": "kv", "version": 2, "secrets": {"web": {"password": "canary-fl-'$$'-one"}}},
    "database/": {"type": "database", "roles": {"web": {"default_ttl": 3600, "max_ttl": 7200}}}
  }' '["secret/data/*", "database/creds/*", "sys/leases/*"]' '{
    "web": {
      "secrets": { "db_password": "vault:secret/web#password",
                   "db_user": "vault:database/creds/web#username" },
      "notify": "SIGHUP", "refresh": "1h", "grace": "1s", "size": "64k"
    }
  }' lbfleet:1
node_reports() { nd 1 node inspect "node$1" --format '{{json .Description.Engine.Plugins}}' | grep -q '"Type":"Volume","Name":"lockbox"'; }
for ((i = 1; i <= NODES; i++)); do wait_for "node $i reporting the lockbox driver" 60 node_reports "$i"; done
pass "$NODES nodes in one swarm, each with its dockerd and lockboxd, each reporting the lockbox driver ($((SECONDS - START))s)"

svc() { # NAME MODE-ARGS...: a service with the lockbox mount and lockbox exec as entrypoint
	local name=$1
	shift
	nd 1 service create --detach --quiet --no-resolve-image --name "$name" "$@" --user 1000:1000 \
		--mount "type=volume,source=$name-secrets,dst=/run/secrets,volume-driver=lockbox,volume-opt=binding=web" \
		lbfleet:1 /lockbox exec --wait db_password --timeout 60s -- /app --seconds 900 /run/secrets/db_password >/dev/null ||
		fail "service create $name"
}
tasks_on() { nd "$1" ps -q --filter "label=com.docker.swarm.service.name=$2"; } # NODE SERVICE
# Every running task of the services reads VALUE as its user; WANT tasks in all.
all_read() { # VALUE WANT SERVICE...
	local v=$1 want=$2 n=0 i c s out
	shift 2
	for ((i = 1; i <= NODES; i++)); do
		for s in "$@"; do
			for c in $(tasks_on "$i" "$s"); do
				out=$(nd "$i" exec "$c" /lockbox get db_password 2>&1) || { echo "node $i $s $c: $out" >"$T/last_read"; return 1; }
				[[ $out == "$v" ]] || { echo "node $i $s $c: $out" >"$T/last_read"; return 1; }
				n=$((n + 1))
			done
		done
	done
	[[ $n -eq $want ]] || { echo "$n running tasks, want $want" >"$T/last_read"; return 1; }
}
read_all() { # VALUE WANT WHAT SERVICE...
	local v=$1 want=$2 what=$3 deadline=$((SECONDS + 120))
	shift 3
	until all_read "$v" "$want" "$@"; do
		((SECONDS < deadline)) || fail "$what: $(cat "$T/last_read"); $(nd 1 service ps --no-trunc --format '{{.Node}} {{.CurrentState}} {{.Error}}' "$@" 2>&1 | grep -v Running | head -5)"
		sleep 1
	done
}

svc g --mode global
svc r --replicas 3
read_all "canary-fl-$$-one" $((NODES + 3)) "global + 3 replicas read their secret" g r
nd 1 service scale --detach r=9 >/dev/null
read_all "canary-fl-$$-one" $((NODES + 9)) "global + 9 replicas read their secret" g r
began_with() { # VALUE SERVICE...: every task's app printed its ids and VALUE when it began
	local i c s first
	for ((i = 1; i <= NODES; i++)); do
		for s in "${@:2}"; do
			for c in $(tasks_on "$i" "$s"); do
				grep -qx "$c" <<<"${OLD_TASKS:-}" && continue
				first=$(nd "$i" logs "$c" 2>&1 | sed -n 1,2p)
				[[ $first == "uid=1000 gid=1000"$'\n'"/run/secrets/db_password=$1" ]] || fail "task $c of $s on node $i began with: $first"
			done
		done
	done
}
for ((i = 1; i <= NODES; i++)); do [[ -n $(tasks_on "$i" g) ]] || fail "no global task on node $i"; done
began_with "canary-fl-$$-one" g r
pass "global service ($NODES tasks) and 9 replicas on $NODES nodes: every task reads its secret as uid 1000, had it when the app started ($((SECONDS - START))s)"

# A rotation: the Vault value changes, every node's broker is asked to rotate.
kv_reads_by_node() { # how many nodes read secret/web since the log reset, and the most one read
	admin GET /admin/requests | python3 -c '
import collections, json, sys
c = collections.Counter(e["token_accessor"] for e in json.load(sys.stdin)["log"] if e["path"] == "secret/data/web")
print(len(c), max(c.values(), default=0))'
}
rotate_to() { # VALUE
	admin POST /admin/reset-log >/dev/null
	admin POST /admin/kv "{\"path\":\"secret/web\",\"data\":{\"password\":\"$1\"}}" >/dev/null
	for ((i = 1; i <= NODES; i++)); do lbctl "$i" rotate >/dev/null || fail "lockboxctl rotate on node $i"; done
}
declare -A HUPS
sighup_count() { nd "$1" logs "$2" 2>&1 | grep -c SIGHUP || true; } # NODE CONTAINER
# Every running task logged exactly one SIGHUP more than at the last call (0 for new ones).
one_more_sighup() { # SERVICE...
	local i c s got
	declare -A now
	for ((i = 1; i <= NODES; i++)); do
		for s in "$@"; do
			for c in $(tasks_on "$i" "$s"); do
				got=$(sighup_count "$i" "$c")
				[[ $got == $((${HUPS[$c]:-0} + 1)) ]] || fail "node $i task $c of $s: $got SIGHUPs, want $((${HUPS[$c]:-0} + 1))"
				now[$c]=$got
			done
		done
	done
	HUPS=()
	for c in "${!now[@]}"; do HUPS[$c]=${now[$c]}; done
}
t0=$SECONDS
rotate_to "canary-fl-$$-two"
read_all "canary-fl-$$-two" $((NODES + 9)) "rotation" g r
echo "# rotation reached $((NODES + 9)) tasks in $((SECONDS - t0))s"
sleep 2 # a second signal would have come by now
one_more_sighup g r
assert_eq "$(kv_reads_by_node)" "$NODES 1" "nodes that read secret/web, and the most reads by one node"
pass "rotation reaches every task on every node with one SIGHUP each; one Vault read per node"

# Drain node 2: its tasks move; its broker wipes their tmpfs and revokes their leases.
leases2=$(node_leases 2)
OLD_TASKS=$(for ((i = 1; i <= NODES; i++)); do tasks_on "$i" r; done)
[[ $(wc -w <<<"$leases2") -ge 2 ]] || fail "node 2 holds $(wc -w <<<"$leases2") leases before the drain"
[[ $(node_targets 2) -ge 2 ]] || fail "node 2 serves $(node_targets 2) tasks before the drain"
nd 1 node update --availability drain node2 >/dev/null
wait_for "node 2 without tasks" 90 bash -c "[[ -z \$(nsenter -t ${HOLDER[2]} -m docker -H unix:///run/docker.sock ps -q) ]]"
wait_for "node 2's tmpfs wiped and unmounted" 30 bash -c "[[ \$(find /proc/${HOLDER[2]}/root/run/lockbox/t -mindepth 1 -maxdepth 1 -name '@*' | wc -l) == 0 ]]"
assert_eq "$(node_mounts 2)" 0 "lockbox mounts left on node 2"
lease_revoked() { # LEASE_ID
	admin GET /admin/leases | python3 -c 'import json,sys; sys.exit(0 if any(l["lease_id"]==sys.argv[1] and l["reason"]=="revoked" for l in json.load(sys.stdin)["revoked"]) else 1)' "$1"
}
for l in $leases2; do wait_for "lease ${l##*/} of node 2 revoked" 30 lease_revoked "$l"; done
read_all "canary-fl-$$-two" $((NODES - 1 + 9)) "after the drain" g r
[[ -z $(tasks_on 2 r) ]] || fail "replicas left on the drained node"
began_with "canary-fl-$$-two" r # the tasks that moved
pass "drain: node 2 wiped and unmounted its tasks' tmpfs and revoked their $(wc -w <<<"$leases2") leases; the moved tasks had their secret when they began"

# SIGKILL of node 3's broker: its tasks keep their files; restarted, it rotates them.
[[ -n $(tasks_on 3 r) ]] || fail "no replica on node 3"
stop_node_lockboxd 3 KILL
all_read "canary-fl-$$-two" $((NODES - 1 + 9)) g r || fail "after SIGKILL of node 3's lockboxd: $(cat "$T/last_read")"
n3_tasks=$(nd 3 ps -q | wc -l)
n3_lines=$(grep -c 'mounts volume' "$T/n3/lockboxd.log")
admin POST /admin/reset-log >/dev/null
start_node_lockboxd 3
# Its reconcile resumes each running task (one inspect each) before the rotation.
resumed() { (($(grep -c 'mounts volume' "$T/n3/lockboxd.log") >= n3_lines + n3_tasks)); }
wait_for "node 3 resuming $n3_tasks tasks" 60 resumed
sleep 2
echo "# node 3's broker resumed $n3_tasks tasks with $(kv_reads_by_node | cut -d' ' -f2) reads of secret/web"
rotate_to "canary-fl-$$-three"
read_all "canary-fl-$$-three" $((NODES - 1 + 9)) "rotation after node 3's broker restarted" g r
sleep 2
one_more_sighup g r
assert_eq "$(kv_reads_by_node)" "$((NODES - 1)) 1" "nodes with tasks that read secret/web, and the most reads by one node"
pass "SIGKILL of node 3's lockboxd keeps its tasks' files; restarted, the next rotation reaches every task once"

# Node 3 without its broker: a task scheduled there fails with an error naming the plugin.
stop_node_lockboxd 3
nd 1 service create --detach --quiet --no-resolve-image --name x --constraint node.hostname==node3 --user 1000:1000 \
	--mount "type=volume,source=x-secrets,dst=/run/secrets,volume-driver=lockbox,volume-opt=binding=web" \
	lbfleet:1 /lockbox exec --wait db_password --timeout 60s -- /app --seconds 900 /run/secrets/db_password >/dev/null
x_error() { nd 1 service ps --no-trunc --format '{{.Error}}' x | grep -m1 .; }
x_failed() { [[ -n $(x_error) ]]; }
wait_for "the task on node 3 to fail" 120 x_failed
err=$(x_error)
echo "# node 3 without lockboxd: $err"
grep -q "lockbox" <<<"$err" || fail "the error does not name the plugin: $err"
[[ -z $(tasks_on 3 x) ]] || fail "a task of x runs on node 3 without its broker"
pass "a node whose lockboxd is down refuses new tasks: $err"

start_node_lockboxd 3
nd 1 service rm g r x >/dev/null
for ((i = 1; i <= NODES; i++)); do
	wait_for "node $i without tasks" 60 bash -c "[[ -z \$(nsenter -t ${HOLDER[i]} -m docker -H unix:///run/docker.sock ps -q) ]]"
	wait_for "node $i's tmpfs gone" 30 bash -c "[[ \$(find /proc/${HOLDER[i]}/root/run/lockbox/t -mindepth 1 -maxdepth 1 -name '@*' | wc -l) == 0 ]]"
done
# The apps print their secret: dockerd's container logs hold it, by the test's design.
for v in one two three; do
	hits=$(grep -rlF -- "canary-fl-$$-$v" "$T"/n*/lockboxd.log "$T"/n*/state "$T"/ctl.* 2>/dev/null || true)
	[[ -z $hits ]] || fail "canary value found in: $hits"
done
pass "service rm leaves no tmpfs on any node; no canary in logs, audit or state ($((SECONDS - START))s in all)"

#!/usr/bin/env bash
# Rotation across a swarm fleet (tests/swarm/fleet_lib.sh): NODES nodes (default 3) x 10 tasks
# of one replicated service with the lockbox mount. Each round: the Vault value changes, then
# `lockboxctl rotate` on every node; prints the time to the last task's file holding the new
# value, and the Vault reads of the secret per node. Asserts nothing about time.
# Usage: tests/bench/swarm.sh BIN_DIR [ROUNDS]
source "$(dirname "$0")/../swarm/fleet_lib.sh" "$@" # all args: it may re-exec in a mount namespace
ROUNDS=${2:-5}
PER_NODE=10
TASKS=$((NODES * PER_NODE))

fleet_up '{"secret/": {"type": "kv", "version": 2, "secrets": {"web": {"password": "bench-0"}}}}' \
	'["secret/data/*"]' \
	'{ "web": { "secrets": { "db_password": "vault:secret/web#password" },
	            "notify": "SIGHUP", "refresh": "1h", "grace": "1s", "size": "64k" } }' lbfleet:1
nd 1 service create --detach --quiet --no-resolve-image --name b --replicas "$TASKS" \
	--replicas-max-per-node "$PER_NODE" --user 1000:1000 \
	--mount "type=volume,source=b-secrets,dst=/run/secrets,volume-driver=lockbox,volume-opt=binding=web" \
	lbfleet:1 /lockbox exec --wait db_password --timeout 120s -- /app --seconds 3600 /run/secrets/db_password >/dev/null

# Every task's file, read on the node side (each node's /run/lockbox/t/@ID).
files_hold() { # VALUE: how many task files hold VALUE
	local i n=0 f
	for ((i = 1; i <= NODES; i++)); do
		for f in "/proc/${HOLDER[i]}/root/run/lockbox/t/"@*/db_password; do
			[[ -f $f && $(<"$f") == "$1" ]] && n=$((n + 1))
		done
	done
	echo "$n"
}
all_hold() { [[ $(files_hold "$1") -eq $TASKS ]]; }
wait_for "$TASKS tasks with their secret" 300 all_hold bench-0
# Files can be there at Mount, before the container's start refresh (a read of its own): let
# those finish before the rounds count reads.
sleep 5
echo "# $NODES nodes x $PER_NODE tasks, $ROUNDS rounds (load: $(cut -d' ' -f1-3 /proc/loadavg))"

ms() { echo $(($(date +%s%N) / 1000000)); }
reads_per_node() {
	admin GET /admin/requests | python3 -c '
import collections, json, sys
c = collections.Counter(e["token_accessor"] for e in json.load(sys.stdin)["log"] if e["path"] == "secret/data/web")
print(" ".join(str(v) for v in sorted(c.values())) or "none")'
}
for ((r = 1; r <= ROUNDS; r++)); do
	admin POST /admin/reset-log >/dev/null
	admin POST /admin/kv "{\"path\":\"secret/web\",\"data\":{\"password\":\"bench-$r\"}}" >/dev/null
	t0=$(ms)
	for ((i = 1; i <= NODES; i++)); do lbctl "$i" rotate >/dev/null || fail "rotate on node $i"; done
	t1=$(ms)
	deadline=$((SECONDS + 120))
	until all_hold "bench-$r"; do
		((SECONDS < deadline)) || fail "round $r: $(files_hold "bench-$r") of $TASKS files updated after 120 s"
		sleep 0.02
	done
	t2=$(ms)
	echo $((t2 - t0)) >>"$T/times"
	echo "round $r: last of $TASKS files updated $((t2 - t0)) ms after the first rotate ($((t1 - t0)) ms to ask $NODES brokers); Vault reads per node: $(reads_per_node)"
done
echo "median: $(sort -n "$T/times" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}') ms from the first rotate to the last of $TASKS files"

# shellcheck shell=bash
# A Docker Swarm fleet on one machine (issue 16). Usage: source fleet_lib.sh BIN_DIR
#
# A "switch": a network namespace held by a sleeping process, with a bridge (lbsw0,
# 10.99.0.254/24). Node i (1..N, NODES, default 3): a process holding its own network, UTS and
# mount namespaces; a veth pair from the switch's bridge to the node's eth0 (10.99.0.i/24);
# its own /run (tmpfs: its own /run/docker/plugins, docker.sock, docker.pid, /run/lockbox);
# its own dockerd (--userns-remap=default, data-root in $T/nI) and its own lockboxd, started
# with deploy/lockboxd.service's ExecStartPre/ExecStart and limits. The Vault double listens in
# the switch namespace. No address, link or mount is made in the host's namespaces; everything
# stops by PID and the cleanup checks that nothing is left.
if [[ -z ${LB_SWARM_MNTNS:-} && $(id -u) -eq 0 ]] && unshare -m true 2>/dev/null; then
	LB_SWARM_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/../integration/vault_lib.sh" "$1"
need_root
command -v dockerd >/dev/null && command -v docker >/dev/null || skip "dockerd/docker not installed (apt-get install docker.io)"
command -v musl-gcc >/dev/null || skip "musl-gcc not installed (apt-get install musl-tools)"
command -v ip >/dev/null && command -v nsenter >/dev/null || skip "ip and nsenter are needed"
[[ -x $LB_BIN/lockbox ]] || skip "static client not built"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODES=${NODES:-3}
SWITCH_PID=
VAULT_IP=10.99.0.254
declare -a HOLDER DOCKERD LOCKBOXD

# --- teardown: by PID, then a check that nothing is left -----------------------------------
stop_pid() { # PID SECONDS: TERM, then KILL after SECONDS
	local pid=$1 i
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
fleet_cleanup() {
	local rc=$? i pids=()
	set +e
	# As systemd orders the units: dockerd stops first (its containers' Unmounts still
	# reach lockboxd), then lockboxd.
	for ((i = 1; i <= NODES; i++)); do
		stop_pid "${DOCKERD[i]:-}" 30 &
		pids+=($!)
	done
	((${#pids[@]} == 0)) || wait "${pids[@]}"
	pids=()
	for ((i = 1; i <= NODES; i++)); do stop_pid "${LOCKBOXD[i]:-}" 10; done
	# Sanitizer builds report into the brokers' logs (stderr) as they exit.
	if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/n*/lockboxd.log 2>/dev/null; then
		echo "FAIL: sanitizer reports in the logs above" >&2
		rc=1
	fi
	for ((i = 1; i <= NODES; i++)); do stop_pid "${HOLDER[i]:-}" 5; done
	stop_pid "$SWITCH_PID" 5
	[[ -n $DOUBLE_PID ]] && stop_pid "$DOUBLE_PID" 5
	DOUBLE_PID=
	# What the fleet made lives in its namespaces: with their last process gone, nothing may
	# remain. A process still running from $T, or a link of ours in the host's namespace,
	# is a leak.
	for i in "${HOLDER[@]}" "${DOCKERD[@]}" "${LOCKBOXD[@]}" $SWITCH_PID; do
		[[ -n $i ]] && kill -0 "$i" 2>/dev/null && pids+=("$i")
	done
	if ((${#pids[@]})) || pgrep -f "$T/" >/dev/null; then
		echo "FAIL: processes left: ${pids[*]} $(pgrep -af "$T/" | head -5)" >&2
		rc=1
	fi
	if ip -o link show | grep -qE 'lbsw|lbv[0-9]'; then
		echo "FAIL: links left in the host namespace: $(ip -o link show | grep -E 'lbsw|lbv[0-9]')" >&2
		rc=1
	fi
	if grep -q " $T/" /proc/mounts; then
		echo "FAIL: mounts left: $(grep " $T/" /proc/mounts | head -3)" >&2
		rc=1
	fi
	(exit $rc)
	cleanup
}
trap fleet_cleanup EXIT

# --- namespaces ---------------------------------------------------------------------------
in_switch() { nsenter -t "$SWITCH_PID" -n "$@"; }
in_node() { # I CMD...: in node I's network, UTS and mount namespaces
	local i=$1
	shift
	nsenter -t "${HOLDER[i]}" -n -u -m "$@"
}
nd() { # I DOCKER-ARGS...: the docker CLI of node I
	local i=$1
	shift
	nsenter -t "${HOLDER[i]}" -m docker -H unix:///run/docker.sock "$@"
}
lbctl() { # I ARGS...: lockboxctl on node I
	local i=$1
	shift
	nsenter -t "${HOLDER[i]}" -m "$LB_BIN/lockboxctl" --config "$T/n$i/etc/lockbox.json" "$@"
}

make_switch() {
	unshare -n sleep 3600 &
	SWITCH_PID=$!
	wait_for "switch namespace" 5 ns_other net "$SWITCH_PID"
	in_switch ip link set lo up
	in_switch ip link add lbsw0 type bridge
	in_switch ip addr add "$VAULT_IP/24" dev lbsw0
	in_switch ip link set lbsw0 up
}
ns_other() { [[ $(readlink "/proc/$2/ns/$1") != "$(readlink "/proc/self/ns/$1")" ]]; }

make_node() { # I
	local i=$1 d=$T/n$1
	mkdir -p "$d/etc" "$d/state" "$d/docker"
	# The holder makes the node's namespaces and its /run, then sleeps.
	unshare -n -u -m --propagation private sh -c \
		"mount -t tmpfs -o mode=0755 lbrun$i /run && mkdir -p /run/docker/plugins /run/lock && hostname node$i && touch /run/.ready && exec sleep 3600" &
	HOLDER[i]=$!
	wait_for "node $i namespaces" 10 test -e "/proc/${HOLDER[i]}/root/run/.ready"
	in_switch ip link add "lbv$i" type veth peer name eth0 netns "/proc/${HOLDER[i]}/ns/net"
	in_switch ip link set "lbv$i" master lbsw0 up
	in_node "$i" ip link set lo up
	in_node "$i" ip addr add "10.99.0.$i/24" dev eth0
	in_node "$i" ip link set eth0 up
}

# --- dockerd --------------------------------------------------------------------------------
start_node_dockerd() { # I
	local i=$1 d=$T/n$1
	# dockerd adds the dockremap user to /etc/subuid on first start: the docker tests' lock.
	exec 9>/run/lock/lockbox-subid.lock
	flock 9
	nsenter -t "${HOLDER[i]}" -n -u -m dockerd --data-root "$d/docker" --exec-root /run/docker \
		-H unix:///run/docker.sock --pidfile /run/docker.pid --userns-remap=default \
		--iptables=false --ip-masq=false --bridge=none \
		--storage-driver="${LB_STORAGE_DRIVER:-overlay2}" >>"$d/dockerd.log" 2>&1 &
	DOCKERD[i]=$!
	wait_dockerd "${DOCKERD[i]}" "$d/dockerd.log" 90 "dockerd of node $i" nd "$i" version
}
stop_node_dockerd() { # I
	stop_pid "${DOCKERD[$1]}" 30
	DOCKERD[$1]=
}

# --- lockboxd as the systemd unit runs it -----------------------------------------------------
# The unit's ExecStartPre and ExecStart with its SBINDIR/CONFIG_DIR, under its limits.
unit_line() { # KEY I
	sed -n "s/^$1=//p" "$SRC/deploy/lockboxd.service.in" |
		sed -e "s|@LOCKBOX_SBINDIR@|$LB_BIN|g" -e "s|@LOCKBOX_CONFIG_DIR@|$T/n$2/etc|g"
}
unit_limit() { sed -n "s/^$1=//p" "$SRC/deploy/lockboxd.service.in"; }
start_node_lockboxd() { # I
	local i=$1 pre start core memlock
	rm -f "/proc/${HOLDER[i]}/root/run/lockbox/control.sock" # a killed broker's
	pre=$(unit_line ExecStartPre "$i")
	start=$(unit_line ExecStart "$i")
	core=$(unit_limit LimitCORE)
	memlock=$(unit_limit LimitMEMLOCK)
	[[ -n $start && -n $pre ]] || fail "no ExecStart/ExecStartPre in deploy/lockboxd.service.in"
	memlock=$((${memlock%M} * 1048576))
	# No CAP_SYS_RESOURCE here (a container): the unit's limit, at most the hard one we have.
	[[ $(ulimit -Hl) == unlimited ]] || ((memlock <= $(ulimit -Hl) * 1024)) || memlock=$(($(ulimit -Hl) * 1024))
	# shellcheck disable=SC2086 # the unit's command lines, split as systemd splits them
	in_node "$i" $pre >>"$T/n$i/lockboxd.log" 2>&1 || fail "node $i: $pre failed: $(tail -3 "$T/n$i/lockboxd.log")"
	# shellcheck disable=SC2086
	nsenter -t "${HOLDER[i]}" -n -u -m prlimit --core="${core:-0}" --memlock="$memlock" \
		$start 2>>"$T/n$i/lockboxd.log" &
	LOCKBOXD[i]=$!
	wait_for "node $i lockboxd" 20 test -S "/proc/${HOLDER[i]}/root/run/lockbox/control.sock"
}
stop_node_lockboxd() { # I [SIGNAL]
	local i=$1
	kill "-${2:-TERM}" "${LOCKBOXD[i]}"
	wait "${LOCKBOXD[i]}" 2>/dev/null || true
	LOCKBOXD[i]=
	# lockboxd leaves its control socket (as lib.sh's stop_broker knows).
	rm -f "/proc/${HOLDER[i]}/root/run/lockbox/control.sock"
}

# The unit's config, as deploy/lockbox.json has it, with the shared Vault store.
write_node_config() { # I BINDINGS_JSON
	local i=$1
	cat >"$T/n$i/etc/lockbox.json" <<JSON
{
  "run_dir": "/run/lockbox",
  "state_dir": "$T/n$i/state",
  "docker": {
    "socket": "/var/run/docker.sock",
    "plugin_socket": "/run/docker/plugins/lockbox.sock"
  },
  "stores": {
    "vault": { "type": "vault", "address": "https://$VAULT_IP:$VPORT", "ca_file": "$F/tls/ca.crt",
               "auth": {"method": "token", "token_file": "$F/token$i"} }
  },
  "bindings": $2
}
JSON
}

# --- the Vault double in the switch namespace -------------------------------------------------
start_fleet_double() { # SEED_JSON
	MAKE_CA_SERVER_SAN="IP:$VAULT_IP" "$SERVERS/make_ca.sh" "$F/tls" >/dev/null 2>&1 || fail "make_ca.sh failed"
	chmod 0644 "$F/tls/ca.crt"
	printf '%s' "$1" >"$F/seed.json"
	nsenter -t "$SWITCH_PID" -n "$PYTHON3" "$SERVERS/vault_double.py" --seed "$F/seed.json" --tls-dir "$F/tls" \
		--bind "$VAULT_IP" --port-file "$F/vport" --admin-port-file "$F/aport" --max-seconds 900 \
		>>"$F/double.log" 2>&1 &
	DOUBLE_PID=$!
	wait_for "vault double" 15 test -s "$F/vport"
	VPORT=$(cat "$F/vport")
	APORT=$(cat "$F/aport")
}
# vault_lib's admin(), reached inside the switch namespace.
admin() {
	if [[ $1 == GET ]]; then
		in_switch curl -sf "http://$VAULT_IP:$APORT$2"
	else
		in_switch curl -sf -X "$1" -H 'Content-Type: application/json' -d "${3:-{\}}" "http://$VAULT_IP:$APORT$2"
	fi
}

# --- the fleet --------------------------------------------------------------------------------
build_fleet_image() { # NAME: imported on every node
	local img=$T/img i
	mkdir -p "$img/etc"
	musl-gcc -static -Os -o "$img/app" "$SRC/tests/docker/app.c"
	cp "$LB_BIN/lockbox" "$img/lockbox"
	printf 'root:x:0:0::/:/app\napp:x:1000:1000::/:/app\n' >"$img/etc/passwd"
	printf 'root:x:0:\napp:x:1000:\n' >"$img/etc/group"
	tar -C "$img" -cf "$T/img.tar" .
	for ((i = 1; i <= NODES; i++)); do
		nsenter -t "${HOLDER[i]}" -m docker -H unix:///run/docker.sock import "$T/img.tar" "$1" >/dev/null || fail "import on node $i"
	done
}

# The switch and the nodes' namespaces (before start_fleet_double: the double lives in the
# switch).
make_network() {
	local i
	make_switch
	for ((i = 1; i <= NODES; i++)); do make_node "$i"; done
}
# Dockerds, lockboxds (with BINDINGS), swarm: node 1 inits, the others join.
start_fleet() { # BINDINGS_JSON
	local i token
	in_node "$NODES" curl -s -o /dev/null --cacert "$F/tls/ca.crt" "https://$VAULT_IP:$VPORT/v1/sys/health" ||
		fail "node $NODES cannot reach the Vault double"
	for ((i = 1; i <= NODES; i++)); do
		write_node_config "$i" "$1"
		start_node_dockerd "$i"
		start_node_lockboxd "$i"
	done
	nd 1 swarm init --advertise-addr 10.99.0.1 --listen-addr 10.99.0.1:2377 >"$T/swarm.log" 2>&1 ||
		skip "no swarm here: $(tail -1 "$T/swarm.log")"
	token=$(nd 1 swarm join-token -q worker)
	for ((i = 2; i <= NODES; i++)); do
		nd "$i" swarm join --token "$token" --advertise-addr "10.99.0.$i" 10.99.0.1:2377 >>"$T/swarm.log" 2>&1 ||
			fail "node $i join: $(tail -2 "$T/swarm.log")"
	done
	wait_for "$NODES nodes ready" 60 nodes_ready "$NODES"
}
nodes_ready() { [[ $(nd 1 node ls --format '{{.Status}}' | grep -c Ready) -eq $1 ]]; }

# What node I's broker holds: tmpfs targets of containers, live mounts under /run/lockbox.
node_targets() { find "/proc/${HOLDER[$1]}/root/run/lockbox/t" -mindepth 1 -maxdepth 1 -name '@*' | wc -l; }
node_mounts() { nsenter -t "${HOLDER[$1]}" -m grep -c ' /run/lockbox/[tm]/@' /proc/self/mountinfo || true; }
# The lease ids node I's broker holds for its targets (its network worker's state file: ids,
# never values).
node_leases() {
	python3 -c '
import json, sys
try:
    for l in json.load(open(sys.argv[1]))["leases"]:
        if not l.get("retiring"): print(l["lease_id"])
except FileNotFoundError:
    pass' "$T/n$1/state/worker/vault-vault.json"
}

# A Vault token per node ($F/tokenI, policy "web"); prints the seed's "tokens" members.
node_tokens() {
	local i out=
	for ((i = 1; i <= NODES; i++)); do
		out+="${out:+,}\"tok-n$i-$$\": {\"policies\": [\"web\"], \"ttl\": 3600, \"renewable\": true}"
		printf 'tok-n%s-%s\n' "$i" "$$" >"$F/token$i"
	done
	echo "$out"
}
# The whole fleet: the network, the Vault double (MOUNTS_JSON; policy "web" over POLICY_PATHS_JSON,
# a token per node), every node's dockerd and lockboxd (BINDINGS_JSON), the swarm, and IMAGE
# imported on every node.
fleet_up() { # MOUNTS_JSON POLICY_PATHS_JSON BINDINGS_JSON IMAGE
	make_network
	start_fleet_double "{\"mounts\": $1, \"policies\": {\"web\": $2}, \"tokens\": {$(node_tokens)}}"
	start_fleet "$3"
	build_fleet_image "$4"
}

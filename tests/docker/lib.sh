# shellcheck shell=bash
# Docker test helpers: a private dockerd (own data-root, exec-root, socket, pidfile,
# --userns-remap=default, --iptables=false), stopped by its PID; an image made with
# `docker import` from a tar holding the static client and the test app.
# Each test runs in its own mount namespace with a private /run/docker/plugins: dockerd asks
# every plugin there about a volume name it does not know, so one hung plugin of another run
# would stall this one (seen: `docker-compose up` timing out on inspect_volume).
if [[ -z ${LB_DOCKER_MNTNS:-} && $(id -u) -eq 0 ]] && unshare -m true 2>/dev/null; then
	LB_DOCKER_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$1"
need_root
if [[ -n ${LB_DOCKER_MNTNS:-} ]]; then
	mkdir -p /run/docker/plugins
	mount -t tmpfs -o mode=0700 lbplugins /run/docker/plugins
fi

DOCKER_BIN=/usr/bin/docker
[[ -x $DOCKER_BIN ]] || DOCKER_BIN=$(command -v docker || true)
command -v dockerd >/dev/null && [[ -n $DOCKER_BIN ]] || skip "dockerd/docker not installed (apt-get install docker.io)"
command -v musl-gcc >/dev/null || skip "musl-gcc not installed (apt-get install musl-tools)"
[[ -x $LB_BIN/lockbox ]] || skip "static client not built"

DK=$T/d
DOCKERD_PID=
dk() { "$DOCKER_BIN" -H "unix://$DK/docker.sock" "$@"; }

stop_dockerd() {
	[[ -n $DOCKERD_PID ]] || return 0
	# A wedged dockerd must not hang the cleanup (the ctest timeout would then orphan
	# lockboxd): each call has a deadline, then dockerd is stopped by PID anyway.
	# shellcheck disable=SC2046 # one argument per container ID
	timeout 60 "$DOCKER_BIN" -H "unix://$DK/docker.sock" rm -f \
		$(timeout 20 "$DOCKER_BIN" -H "unix://$DK/docker.sock" ps -aq) >/dev/null 2>&1 || true
	kill -TERM "$DOCKERD_PID" 2>/dev/null || true
	for _ in $(seq 200); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$DOCKERD_PID" 2>/dev/null || true
	DOCKERD_PID=
	# A swarm dockerd stopped midway leaves its overlay's vxlan device in this namespace, and
	# every later overlay with that VNI fails with "error creating vxlan interface: file
	# exists" (one was found left on this host after CI's asan stack tests failed so): the
	# devices that appeared while this dockerd ran go with it.
	local v
	for v in $(vxlans); do
		[[ " $VX_BEFORE " == *" $v "* ]] || ip link del "$v" 2>/dev/null || true
	done
}

vxlans() { ip -o link show type vxlan 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }'; }

docker_cleanup() {
	local rc=$?
	[[ -n ${BROKER_PID:-} ]] && kill -TERM "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
	BROKER_PID=
	stop_dockerd
	rm -f "${PLUGIN_SOCK:-/nonexistent}"
	set +e # cleanup must run, and it exits with the status it finds in $?
	(exit $rc)
	cleanup
}
trap docker_cleanup EXIT

start_dockerd() {
	mkdir -p "$DK"
	# dockerd adds the dockremap user to /etc/subuid on first start: same lock as the
	# userns test, which edits those files too.
	exec 9>/run/lock/lockbox-subid.lock
	flock 9
	VX_BEFORE=$(vxlans | tr '\n' ' ')
	dockerd --data-root "$DK/data" --exec-root "$DK/exec" -H "unix://$DK/docker.sock" \
		--pidfile "$DK/docker.pid" --userns-remap=default --iptables=false \
		--ip-masq=false --bridge=none --storage-driver="${LB_STORAGE_DRIVER:-overlay2}" \
		>"$DK/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	wait_dockerd "$DOCKERD_PID" "$DK/dockerd.log" 60 dockerd dk version
	REMAP_BASE=$(awk -F: '$1=="dockremap"{print $2; exit}' /etc/subuid)
	[[ -n $REMAP_BASE ]] || fail "no dockremap range in /etc/subuid"
}

build_image() { # NAME
	local img=$DK/img
	mkdir -p "$img/etc"
	musl-gcc -static -Os -o "$img/app" "$(dirname "${BASH_SOURCE[0]}")/app.c"
	cp "$LB_BIN/lockbox" "$img/lockbox"
	printf 'root:x:0:0::/:/app\napp:x:1000:1000::/:/app\nother:x:1001:1001::/:/app\n' >"$img/etc/passwd"
	printf 'root:x:0:\napp:x:1000:\nother:x:1001:\n' >"$img/etc/group"
	tar -C "$img" -cf "$DK/img.tar" .
	dk import "$DK/img.tar" "$1" >/dev/null
}

# Config with a docker section; the plugin socket name is unique per test run.
write_docker_config() {
	DRIVER=lockbox-t$$
	PLUGIN_SOCK=/run/docker/plugins/$DRIVER.sock
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "docker": { "socket": "$DK/docker.sock", "plugin_socket": "$PLUGIN_SOCK" },
  "stores": { "local": { "type": "sealed" } },
  "bindings": {
    "web": {
      "secrets": { "db_password": "local:web/db_password" },
      "notify": "SIGHUP",
      "grace": "2s"
    }${1:-}
  }
}
JSON
}

secret_mount() { # BINDING
	echo "type=volume,volume-driver=$DRIVER,dst=/run/secrets,volume-opt=binding=$1"
}

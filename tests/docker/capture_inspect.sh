#!/usr/bin/env bash
# How tests/unit/fixtures/inspect/ was made: real `docker inspect` output of a compliant
# container and of one variant per posture property, plus the kernel's view (/proc/PID/...)
# of each running one, from a private dockerd 20.10 with --userns-remap=default.
#
# Usage (root): tests/docker/capture_inspect.sh [OUT_DIR]   (default tests/unit/fixtures/inspect)
#
# The daemon is private (own data-root, exec-root, socket, pidfile, no iptables, no bridge) and
# is stopped by the PID in its pidfile; no other dockerd is touched. Containers run a static
# musl `pause` binary with --network none (or --network host for that variant). Nothing secret
# is captured: the only env value set is the canary DB_PASSWORD=x.
#
# Per container NAME the output has:
#   NAME.json            GET /containers/ID/json (the object, not docker inspect's array)
#   NAME.proc/status     /proc/PID/status
#   NAME.proc/uid_map, gid_map, mountinfo
#   NAME.proc/attr_current, apparmor_current   (absent when the read fails; NAME.proc/lsm_errors
#                        says how it failed, e.g. "Invalid argument" without an LSM)
#   NAME.proc/ns         `readlink /proc/PID/ns/*` lines, e.g. "net:[4026532999]"
# and once: host.ns (readlink /proc/self/ns/* of this shell, in dockerd's namespaces),
# host.mountinfo (the lines of /proc/self/mountinfo for devices the containers' mounts use), info_security_options.json (GET /info SecurityOptions),
# versions.txt.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$SRC/tests/unit/fixtures/inspect}
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 77; }
DOCKER_BIN=/usr/bin/docker
[[ -x $DOCKER_BIN ]] || DOCKER_BIN=$(command -v docker)
command -v dockerd musl-gcc jq >/dev/null || { echo "needs dockerd, musl-gcc, jq" >&2; exit 77; }

W=$(mktemp -d /tmp/lb-posture-cap.XXXXXX)
chmod 0711 "$W" # the remapped root must traverse it to reach the data-root
DOCKERD_PID=
dk() { "$DOCKER_BIN" -H "unix://$W/docker.sock" "$@"; }

finish() {
	local rc=$?
	if [[ -n $DOCKERD_PID ]]; then
		dk ps -aq --filter label=lb-posture-capture | xargs -r "$DOCKER_BIN" -H "unix://$W/docker.sock" rm -f >/dev/null 2>&1 || true
		kill -TERM "$DOCKERD_PID" 2>/dev/null || true
		for _ in $(seq 200); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DOCKERD_PID" 2>/dev/null || true
	fi
	# Leftover mounts under the data-root would keep rm from working; lazily detach them.
	awk -v w="$W" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	rm -rf "$W" 2>/dev/null || true
	exit $rc
}
trap finish EXIT

# dockerd adds the dockremap user to /etc/subuid on first start: take the same lock as the
# other tests that edit those files.
exec 9>/run/lock/lockbox-subid.lock
flock 9
dockerd --data-root "$W/data" --exec-root "$W/exec" -H "unix://$W/docker.sock" \
	--pidfile "$W/docker.pid" --userns-remap=default --iptables=false --ip-masq=false \
	--bridge=none >"$W/dockerd.log" 2>&1 &
DOCKERD_PID=$!
deadline=$((SECONDS + 60))
until dk version >/dev/null 2>&1; do
	kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -n 20 "$W/dockerd.log" >&2; exit 1; }
	((SECONDS < deadline)) || { echo "dockerd did not come up" >&2; exit 1; }
	sleep 0.2
done
flock -u 9
[[ $(cat "$W/docker.pid") == "$DOCKERD_PID" ]] || { echo "pidfile mismatch" >&2; exit 1; }

mkdir -p "$W/img" "$OUT"
cat >"$W/pause.c" <<'C'
#include <signal.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
int main(void) { signal(SIGTERM, bye); signal(SIGINT, bye); for (;;) pause(); }
C
musl-gcc -static -Os -o "$W/img/pause" "$W/pause.c"
tar -C "$W/img" -cf "$W/img.tar" .
dk import --change 'CMD ["/pause"]' "$W/img.tar" lb-posture:capture >/dev/null
IMG=lb-posture:capture

capture_proc() { # PID DIR
	local pid=$1 d=$2 f
	mkdir -p "$d"
	cat "/proc/$pid/status" >"$d/status"
	cat "/proc/$pid/uid_map" >"$d/uid_map"
	cat "/proc/$pid/gid_map" >"$d/gid_map"
	cat "/proc/$pid/mountinfo" >"$d/mountinfo"
	: >"$d/lsm_errors"
	for f in current apparmor/current; do
		local name=${f//\//_}
		[[ $f == current ]] && name=attr_current
		if ! cat "/proc/$pid/attr/$f" >"$d/$name" 2>"$W/err"; then
			rm -f "$d/$name"
			echo "attr/$f: $(sed 's/.*: //' "$W/err")" >>"$d/lsm_errors"
		fi
	done
	for f in /proc/"$pid"/ns/*; do readlink "$f"; done >"$d/ns"
}

# NAME create|run DOCKER-ARGS... : one container, its inspect and (when running) its /proc view.
variant() {
	local name=$1 how=$2 id pid
	shift 2
	id=$(dk "$how" --label lb-posture-capture=1 --name "lbp-$name" "$@" "$IMG")
	dk inspect "$id" | jq '.[0]' >"$OUT/$name.json"
	rm -rf "$OUT/$name.proc"
	if [[ $how == run ]]; then
		pid=$(dk inspect -f '{{.State.Pid}}' "$id")
		[[ $pid -gt 0 ]] || { echo "$name: not running" >&2; exit 1; }
		capture_proc "$pid" "$OUT/$name.proc"
	fi
	echo "captured $name"
}

C=(--user 1000 --cap-drop ALL --security-opt no-new-privileges --read-only --memory 64m
	--pids-limit 64)
NONE=(--network none)
variant compliant run -d "${NONE[@]}" "${C[@]}"
variant root run -d "${NONE[@]}" --cap-drop ALL --security-opt no-new-privileges --read-only \
	--memory 64m --pids-limit 64
variant privileged run -d "${NONE[@]}" "${C[@]}" --privileged --userns host
variant cap-add-sys-admin run -d "${NONE[@]}" "${C[@]}" --cap-add SYS_ADMIN
variant no-cap-drop run -d "${NONE[@]}" --user 1000 --security-opt no-new-privileges --read-only \
	--memory 64m --pids-limit 64
variant seccomp-unconfined run -d "${NONE[@]}" "${C[@]}" --security-opt seccomp=unconfined
variant no-nnp run -d "${NONE[@]}" --user 1000 --cap-drop ALL --read-only --memory 64m \
	--pids-limit 64
variant writable-rootfs run -d "${NONE[@]}" --user 1000 --cap-drop ALL \
	--security-opt no-new-privileges --memory 64m --pids-limit 64
variant net-host run -d --network host --userns host "${C[@]}"
variant pid-host run -d "${NONE[@]}" --pid host --userns host "${C[@]}"
# Created only: at start dockerd would create a missing -v source as a directory on the host.
variant docker-sock create "${NONE[@]}" "${C[@]}" -v /var/run/docker.sock:/var/run/docker.sock
# The same threat running, with this private daemon's socket, for the kernel's mount view.
variant docker-sock-private run -d "${NONE[@]}" "${C[@]}" -v "$W/docker.sock:/var/run/docker.sock"
variant host-etc run -d "${NONE[@]}" "${C[@]}" -v /etc:/host-etc
variant no-memory run -d "${NONE[@]}" --user 1000 --cap-drop ALL --security-opt no-new-privileges \
	--read-only --pids-limit 64
variant no-pids-limit run -d "${NONE[@]}" --user 1000 --cap-drop ALL \
	--security-opt no-new-privileges --read-only --memory 64m
variant secret-env run -d "${NONE[@]}" "${C[@]}" -e DB_PASSWORD=x
variant userns-host run -d "${NONE[@]}" "${C[@]}" --userns host
# Extra rows: two failures at once, the other host namespaces, LSM opt-out, the ":true" form.
variant root-cap-sys-admin run -d "${NONE[@]}" --cap-drop ALL --cap-add SYS_ADMIN \
	--security-opt no-new-privileges --read-only --memory 64m --pids-limit 64
variant ipc-host run -d "${NONE[@]}" --ipc host --userns host "${C[@]}"
variant uts-host run -d "${NONE[@]}" --uts host --userns host "${C[@]}"
variant apparmor-unconfined run -d "${NONE[@]}" "${C[@]}" --security-opt apparmor=unconfined
variant nnp-true run -d "${NONE[@]}" --user 1000 --cap-drop ALL \
	--security-opt no-new-privileges:true --read-only --memory 64m --pids-limit 64

for f in /proc/self/ns/*; do readlink "$f"; done >"$OUT/host.ns"
# Only the host mounts whose device a captured container mount refers to (the rest is noise
# from whatever else runs on the capturing machine).
cat "$OUT"/*.proc/mountinfo | awk '{print $3}' | sort -u >"$W/devs"
awk 'NR==FNR {d[$1]; next} ($3 in d)' "$W/devs" /proc/self/mountinfo >"$OUT/host.mountinfo"
dk info --format '{{json .SecurityOptions}}' | jq . >"$OUT/info_security_options.json"
{
	dk version --format 'docker {{.Server.Version}} api {{.Server.APIVersion}}'
	echo "kernel $(uname -r)"
	echo "remap $(awk -F: '$1=="dockremap"{print $2":"$3}' /etc/subuid)"
	echo "captured $(date -u +%Y-%m-%d)"
} >"$OUT/versions.txt"
echo "fixtures in $OUT"

#!/usr/bin/env bash
# lockbox quickstart: build, start lockboxd on the sealed local store with one static
# target, and show a secret delivered, read by its consumer, and rotated.
# Run as root on Debian 12. Everything lives under $LOCKBOX_DEMO_DIR (default
# /tmp/lockbox-quickstart) and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
proves() { printf '   -> %s\n' "$*"; }

[[ $(id -u) -eq 0 ]] || { echo "quickstart.sh: run as root (lockboxd mounts tmpfs)" >&2; exit 1; }

step "1. Install build dependencies (apt)"
# What the release build needs (no tests: no cmocka), and util-linux for the demo (unshare,
# nsenter, findmnt). Docker is not installed here: steps 10-14 run when dockerd is present.
deps=(build-essential cmake pkg-config libsodium-dev libjansson-dev libcurl4-openssl-dev
      libmicrohttpd-dev libssl-dev libseccomp-dev musl-tools scdoc util-linux)
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	echo "installed: ${missing[*]}"
else
	echo "all present"
fi

# lockboxd's network worker runs as this user (as the Debian package creates it); without it
# the worker takes an unused uid from 61184-65519.
getent passwd lockbox >/dev/null ||
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin lockbox

step "2. Build (cmake --preset release: optimised, tests off)"
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" 2>&1 | tail -n 1
bin=$top/build-release/bin

demo=${LOCKBOX_DEMO_DIR:-/tmp/lockbox-quickstart}
broker_pid=
ns_pid=
dockerd_pid=
finish() {
	[[ -n $ns_pid ]] && kill "$ns_pid" 2>/dev/null
	if [[ -n $dockerd_pid ]]; then
		"$docker_bin" -H "unix://$demo/d/docker.sock" ps -aq 2>/dev/null |
			xargs -r "$docker_bin" -H "unix://$demo/d/docker.sock" rm -f >/dev/null 2>&1
		kill -TERM "$dockerd_pid" 2>/dev/null
		for _ in $(seq 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		dockerd_pid=
	fi
	if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid"; wait "$broker_pid" || true
	fi
	{ grep -o " $demo/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount "$m" || umount -l "$m"; done
	rm -rf "$demo"
}
trap finish EXIT
finish
mkdir -p "$demo"
chmod 0711 "$demo"
conf=$demo/lockbox.json

step "3. Write a demo config: sealed store + one static target (uid 1000 in a user namespace)"
cat >"$conf" <<JSON
{
  "run_dir": "$demo/run",
  "state_dir": "$demo/state",
  "stores": { "local": { "type": "sealed" } },
  "bindings": {
    "web": {
      "secrets": { "db_password": "local:web/db_password" },
      "refresh": "5m",
      "grace": "5s"
    }
  },
  "targets": {
    "demo": { "binding": "web", "uid": 1000, "gid": 1000, "uid_map": "0 100000 65536" }
  }
}
JSON
cat "$conf"
"$bin/lockboxd" --check-config "$conf"
proves "the config is valid (lockboxd --check-config prints ok)"

step "4. Store a secret in the sealed store (value from stdin, never argv)"
printf 'correct horse battery staple' | "$bin/lockboxctl" --config "$conf" secret put web/db_password
"$bin/lockboxctl" --config "$conf" secret list
ls -l "$demo/state/sealed"
proves "the store holds an encrypted file per version; list shows names and versions, no values"

step "5. Start lockboxd"
"$bin/lockboxd" --config "$conf" 2>"$demo/lockboxd.log" &
broker_pid=$!
for _ in $(seq 100); do [[ -S $demo/run/control.sock ]] && break; sleep 0.05; done
"$bin/lockboxctl" --config "$conf" targets
t=$demo/run/t/demo

step "6. The delivered file"
findmnt -n -o TARGET,FSTYPE,OPTIONS --target "$t"
ls -la "$t" "$t/..data/"
cat "$t/..data/.manifest.json"; echo
proves "a tmpfs of its own (nosuid,nodev,noexec,noswap), owned by host uid 101000 = uid 1000 through the map 0 100000 65536, mode 0400; the manifest has no secret bytes"

step "7. Read it as the target's user (uid 1000 inside a user namespace)"
# A user namespace with the target's map (0 100000 65536), held open by a sleeping
# process; nsenter runs commands in it as a given uid.
unshare --user sleep 300 &
ns_pid=$!
for _ in $(seq 100); do
	[[ $(readlink /proc/$ns_pid/ns/user) != "$(readlink /proc/self/ns/user)" ]] && break
	sleep 0.02
done
echo '0 100000 65536' >/proc/$ns_pid/uid_map
echo '0 100000 65536' >/proc/$ns_pid/gid_map
as_user() { # UID CMD...
	local uid=$1; shift
	nsenter --user --target "$ns_pid" --setuid "$uid" --setgid "$uid" -- "$@"
}
echo -n "uid 1000 reads: "; as_user 1000 cat "$t/db_password"; echo
if [[ -x $bin/lockbox ]]; then
	# A copy uid 1000 can reach: the checkout may be in root's 0700 home.
	install -m 0755 "$bin/lockbox" "$demo/lockbox"
	echo -n "lockbox get as uid 1000: "
	as_user 1000 "$demo/lockbox" get db_password --dir "$t"; echo
	proves "the static client verified the tmpfs (read-only here), the owner and the mode before reading"
fi
echo -n "uid 1001 tries: "
if as_user 1001 cat "$t/db_password" 2>&1; then echo "UNEXPECTED: uid 1001 could read"; exit 1; fi
proves "only the consumer's uid can read its secret"

step "8. Rotate: put a new value; lockboxd writes generation 2 and swaps ..data atomically"
printf 'new staple %s' "$(date +%s)" | "$bin/lockboxctl" --config "$conf" secret put web/db_password
ls -la "$t"
echo -n "uid 1000 now reads: "; as_user 1000 cat "$t/db_password"; echo
kill -USR1 "$broker_pid"
sleep 0.3
echo "after SIGUSR1 (refresh every target now): ..data -> $(readlink "$t/..data")"
proves "a new generation appeared; the old one stays for the grace period, then goes"
grep '"event":"deliver"' "$demo/state/audit.jsonl" | tail -n 2

step "9. Stop cleanly"
kill -TERM "$broker_pid"; wait "$broker_pid"; broker_pid=
echo "lockboxd exited 0; the target tmpfs stays mounted so a restart resumes:"
findmnt -n -o TARGET,FSTYPE --target "$t"

docker_bin=/usr/bin/docker
[[ -x $docker_bin ]] || docker_bin=$(command -v docker || true)
if ! command -v dockerd >/dev/null || [[ -z $docker_bin ]]; then
	echo "dockerd is not installed: the Docker part is skipped (apt-get install docker.io, then run this again)"
	exit 0
fi

step "10. Docker: a dockerd with --userns-remap=default"
if "$docker_bin" info >/dev/null 2>&1; then
	sock=/var/run/docker.sock
	echo "using the running dockerd at $sock"
else
	mkdir -p "$demo/d"
	dockerd --data-root "$demo/d/data" --exec-root "$demo/d/exec" -H "unix://$demo/d/docker.sock" \
		--pidfile "$demo/d/docker.pid" --userns-remap=default --iptables=false --ip-masq=false \
		--bridge=none >"$demo/d/dockerd.log" 2>&1 &
	dockerd_pid=$!
	sock=$demo/d/docker.sock
	for _ in $(seq 300); do "$docker_bin" -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
	if ! "$docker_bin" -H "unix://$sock" version >/dev/null 2>&1; then
		echo "dockerd cannot run on this machine (see $demo/d/dockerd.log): the Docker part is skipped"
		tail -n 5 "$demo/d/dockerd.log"
		exit 0
	fi
	echo "started a private dockerd (pid $dockerd_pid) on $sock"
fi
dk() { "$docker_bin" -H "unix://$sock" "$@"; }
cat >"$conf" <<JSON
{
  "run_dir": "$demo/run",
  "state_dir": "$demo/state",
  "docker": { "socket": "$sock", "plugin_socket": "/run/docker/plugins/lockbox-quickstart.sock" },
  "stores": { "local": { "type": "sealed" } },
  "bindings": {
    "web": {
      "secrets": { "db_password": "local:web/db_password" },
      "notify": "SIGHUP",
      "grace": "5s"
    }
  }
}
JSON
"$bin/lockboxd" --config "$conf" 2>>"$demo/lockboxd.log" &
broker_pid=$!
for _ in $(seq 100); do [[ -S $demo/run/control.sock ]] && break; sleep 0.05; done
img=$demo/img
mkdir -p "$img/etc"
musl-gcc -static -Os -o "$img/app" tests/docker/app.c
cp "$bin/lockbox" "$img/lockbox"
printf 'root:x:0:0::/:/app\napp:x:1000:1000::/:/app\n' >"$img/etc/passwd"
tar -C "$img" -cf "$demo/img.tar" .
dk import "$demo/img.tar" lockbox-quickstart:demo >/dev/null
echo "image lockbox-quickstart:demo: FROM scratch with /lockbox (static client, $(stat -c %s "$bin/lockbox") bytes) and /app"

step "11. docker run with one --mount: the app reads its secret as uid 1000"
cid=$(dk run -d --network none --user 1000 --cap-drop ALL --security-opt no-new-privileges --read-only \
	--mount type=volume,volume-driver=lockbox-quickstart,dst=/run/secrets,volume-opt=binding=web \
	lockbox-quickstart:demo /lockbox exec --wait db_password -- /app --seconds 60 /run/secrets/db_password)
for _ in $(seq 100); do dk logs "$cid" 2>&1 | grep -q 'db_password=' && break; sleep 0.1; done
dk logs "$cid"
# Each container gets a tmpfs of its own (RUN_DIR/t/@MOUNT_ID): the one whose device is
# what the container has at /run/secrets.
pid=$(dk inspect -f '{{.State.Pid}}' "$cid")
dev=$(awk '$5 == "/run/secrets" {print $3}' "/proc/$pid/mountinfo")
tdir=$(findmnt -rn -o TARGET,MAJ:MIN | awk -v d="$dev" -v t="$demo/run/t/" 'index($1, t) == 1 && $2 == d {print $1}')
echo "the container's tmpfs on the host: $tdir"
ls -ln "$tdir/..data/"
proves "inside: uid 1000; on the host the file belongs to $(stat -c %u "$tdir/..data/db_password"), uid 1000 through dockerd's remap range"

step "12. Nothing in docker inspect, docker history or /proc/1/environ"
value=$(cat "$tdir/..data/db_password")
for what in inspect history environ; do
	case $what in
	inspect) text=$(dk inspect "$cid") ;;
	history) text=$(dk history --no-trunc lockbox-quickstart:demo) ;;
	environ) text=$(tr '\0' '\n' <"/proc/$pid/environ") ;;
	esac
	if [[ $text == *"$value"* ]]; then echo "UNEXPECTED: the secret is in $what"; exit 1; fi
	echo "docker $what: no secret"
done
dk exec "$cid" /lockbox check

step "13. Rotation reaches the app (SIGHUP through the Engine API, forwarded by lockbox exec)"
printf 'rotated staple %s' "$(date +%s)" | "$bin/lockboxctl" --config "$conf" secret put web/db_password
sleep 1
dk logs "$cid" 2>&1 | tail -n 2

step "14. docker stop: the tmpfs is wiped and unmounted"
dk stop -t 1 "$cid" >/dev/null
sleep 0.5
grep -c " $tdir " /proc/mounts || true
kill -TERM "$broker_pid"; wait "$broker_pid"; broker_pid=
echo "done; the demo now removes $demo"

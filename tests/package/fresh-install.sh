#!/usr/bin/env bash
# The package as a user meets it, on a machine of its own (destructive: it installs, upgrades
# and purges lockbox system-wide). Meant for a fresh root, e.g.
#   ../shared/tools/fresh-debian.sh ./tests/package/fresh-install.sh
# Builds the package with dpkg-buildpackage, installs it with apt, checks the unit, the
# conffile, the state directory, the user and the binaries, starts lockboxd the way the unit
# does (Type=notify: READY=1 on NOTIFY_SOCKET), keeps a changed conffile over a reinstall,
# and purges. Run as root from the top of the source tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $(id -u) -eq 0 ]] || { echo "fresh-install.sh: run as root" >&2; exit 1; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
step() { printf '\n== %s\n' "$*"; }

export DEBIAN_FRONTEND=noninteractive
step "build dependencies (debian/control) and tools"
apt-get update -qq
apt-get install -y -qq --no-install-recommends dpkg-dev debhelper lintian systemd man-db \
	python3 >/dev/null
apt-get build-dep -y -qq --no-install-recommends ./ >/dev/null
dpkg-checkbuilddeps && pass "build dependencies installed"

step "dpkg-buildpackage -b -us -uc"
version=$(dpkg-parsechangelog -S Version)
dpkg-buildpackage -b -us -uc >/tmp/dpkg-buildpackage.log 2>&1 || { tail -n 30 /tmp/dpkg-buildpackage.log; exit 1; }
deb=$(ls ../lockbox_"${version}"_amd64.deb)
pass "built $deb"
lintian "../lockbox_${version}_amd64.changes" >/tmp/lintian.out 2>&1 || true
cat /tmp/lintian.out
grep -q '^E: ' /tmp/lintian.out && fail "lintian errors" || pass "lintian: no errors"

step "apt install ./lockbox_${version}_amd64.deb"
cp "$deb" /tmp/
apt-get install -y -qq "/tmp/${deb##*/}" >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
for b in lockboxd lockboxctl lockbox; do
	p=$(command -v "$b") || { fail "$b not on PATH"; continue; }
	got=$("$b" --version)
	[[ $got == "$b $version" ]] && pass "$p --version: $got" || fail "$b --version: $got"
done
[[ $(stat -c '%a %U' /var/lib/lockbox) == "700 root" ]] && pass "/var/lib/lockbox 0700 root" ||
	fail "/var/lib/lockbox: $(stat -c '%a %U' /var/lib/lockbox)"
conf=$(dpkg-query -W -f='${Conffiles}' lockbox | awk 'NF {print $1}')
[[ $conf == /etc/lockbox/lockbox.json ]] && pass "conffile: $conf" || fail "conffiles: $conf"
getent passwd lockbox >/dev/null && pass "system user: $(getent passwd lockbox)" || fail "no lockbox user"
[[ -L /etc/systemd/system/multi-user.target.wants/lockboxd.service ]] &&
	pass "lockboxd.service enabled (multi-user.target.wants)" || fail "lockboxd.service not enabled"
if out=$(systemd-analyze verify /lib/systemd/system/lockboxd.service 2>&1); then
	pass "systemd-analyze verify lockboxd.service: clean${out:+ ($out)}"
else
	fail "systemd-analyze verify: $out"
fi
man -w lockboxd.8 lockboxctl.8 lockbox.1 lockbox.json.5 >/dev/null && pass "man pages: $(man -w lockbox.json.5)" || fail "man pages"

step "lockboxd started as the unit starts it (no systemd as PID 1 here)"
pre=$(sed -n 's/^ExecStartPre=//p' /lib/systemd/system/lockboxd.service)
start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/lockboxd.service)
$pre && pass "ExecStartPre: $pre"
python3 - "$start" <<'PY' && pass "ExecStart sent READY=1 on NOTIFY_SOCKET, lockboxctl status answered, SIGTERM exit 0" || fail "ExecStart under a notify socket"
import os, shlex, signal, socket, subprocess, sys
path = "/run/fresh-notify.sock"
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
p = subprocess.Popen(shlex.split(sys.argv[1]), env=dict(os.environ, NOTIFY_SOCKET=path))
msg = s.recv(4096)
print("notify:", msg.decode())
st = subprocess.run(["lockboxctl", "status"], capture_output=True, text=True)
print(st.stdout)
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=20)
sys.exit(0 if msg.startswith(b"READY=1") and st.returncode == 0 and rc == 0 else 1)
PY
printf 'fresh-install value' | lockboxctl secret put web/db_password
ls -la /var/lib/lockbox

step "a changed conffile survives a reinstall"
sed -i 's/"refresh": "5m"/"refresh": "7m"/' /etc/lockbox/lockbox.json
apt-get install -y -qq --reinstall "/tmp/${deb##*/}" >/tmp/apt2.log 2>&1 || { cat /tmp/apt2.log; exit 1; }
grep -q '"refresh": "7m"' /etc/lockbox/lockbox.json && pass "changed /etc/lockbox/lockbox.json kept" ||
	fail "the conffile was overwritten"

step "apt purge lockbox"
apt-get purge -y -qq lockbox >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }
grep -i lockbox /tmp/purge.log || true
left=$(ls -d /etc/lockbox /usr/sbin/lockboxd /usr/bin/lockbox /usr/libexec/lockbox /lib/systemd/system/lockboxd.service \
	/etc/systemd/system/multi-user.target.wants/lockboxd.service /run/lockbox 2>/dev/null || true)
[[ -z $left ]] && pass "purge removed the package's files, the conffile and the unit link" || fail "left after purge: $left"
getent passwd lockbox >/dev/null && fail "lockbox user left after purge" || pass "lockbox user removed"
if [[ -d /var/lib/lockbox ]]; then
	ls -la /var/lib/lockbox /var/lib/lockbox/sealed
	kept=$(find /var/lib/lockbox -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
	[[ $kept == 'sealed sealed.key ' ]] &&
		pass "kept only the sealed store the user filled (secret put above)" || fail "unexpected state left: $kept"
else
	fail "/var/lib/lockbox removed with the user's sealed secret in it"
fi
rm -rf /var/lib/lockbox

step "install, run lockboxd (it makes its key, state and audit log), purge: nothing left"
apt-get install -y -qq "/tmp/${deb##*/}" >/tmp/apt3.log 2>&1 || { cat /tmp/apt3.log; exit 1; }
lockboxd --config /etc/lockbox/lockbox.json 2>/dev/null &
pid=$!
for _ in $(seq 100); do [[ -S /run/lockbox/control.sock ]] && break; sleep 0.1; done
lockboxctl targets >/dev/null || fail "lockboxctl targets"
kill -TERM "$pid"
wait "$pid" || fail "lockboxd exit status"
# A swarm manager's lockboxd also keeps the leases of the Swarm-secret tasks it served.
printf '{}\n' >/var/lib/lockbox/swarm-leases.json
ls -a /var/lib/lockbox
apt-get purge -y -qq lockbox >/tmp/purge2.log 2>&1 || { cat /tmp/purge2.log; exit 1; }
left=$(ls -d /etc/lockbox /var/lib/lockbox /run/lockbox /run/docker/plugins/lockbox.sock 2>/dev/null || true)
[[ -z $left ]] && pass "purge left nothing of an install with no stored secret" || fail "left after purge: $left"

((fails == 0)) || { echo "fresh-install: $fails failure(s)"; exit 1; }
echo "fresh-install: all passed"

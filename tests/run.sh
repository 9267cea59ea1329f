#!/usr/bin/env bash
# Installs the test dependencies, builds the default and asan presets and runs every test.
# LOCKBOX_MUST_WORK=1 (set by .ci/run) turns every skip (no root, no user namespaces,
# no dockerd) into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

deps=(build-essential cmake pkg-config libsodium-dev libjansson-dev libcurl4-openssl-dev
      libmicrohttpd-dev libcmocka-dev libssl-dev libseccomp-dev musl-tools openssl python3 util-linux
      uidmap tini dumb-init docker.io iproute2 procps clang-format curl scdoc
      dpkg-dev debhelper lintian systemd docker-compose jq clang-tidy cppcheck shellcheck git prometheus strace)
missing=()
for p in "${deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "tests/run.sh: missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc)
# Most tests wait on daemons, sockets and timers: twice the cores keeps both busy.
test_jobs=$((jobs * 2))
for preset in default asan; do
	echo "== build ($preset)"
	cmake --preset "$preset" >/dev/null
	cmake --build --preset "$preset" -j"$jobs"
done

status=0
for preset in default asan; do
	echo "== test ($preset)"
	# Integration tests mount tmpfs and start daemons in their own directories; they
	# are safe to run side by side, but two cores is all this machine has.
	ctest --preset "$preset" -j"$test_jobs" --timeout 600 || status=1
done
exit $status

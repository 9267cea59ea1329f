# shellcheck shell=bash
# Shared helpers for integration tests (bash). Usage: source lib.sh BIN_DIR
# Every test gets its own directory under /tmp, its own run_dir/state_dir and its own
# lockboxd, stopped by PID; mounts under the directory are removed on exit.
set -euo pipefail

LB_BIN=${1:?usage: test.sh BIN_DIR}
LB_BIN=$(cd "$LB_BIN" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
BROKER_PID=

skip() {
	if [[ ${LOCKBOX_MUST_WORK:-} == 1 ]]; then
		echo "FAIL: cannot run ($*) and LOCKBOX_MUST_WORK=1" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	[[ -f ${T:-/nonexistent}/lockboxd.log ]] && {
		# A sanitizer report's head (what and where) matters more than its shadow-byte tail.
		grep -q -m1 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T/lockboxd.log" &&
			{ echo "--- lockboxd.log (sanitizer report)" >&2; grep -A 40 -m1 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$T/lockboxd.log" >&2; }
		echo "--- lockboxd.log (tail)" >&2
		tail -n 30 "$T/lockboxd.log" >&2
	}
	exit 1
}

pass() { echo "ok - $*"; }

need_root() { [[ $(id -u) -eq 0 ]] || skip "needs root"; }

# Wait for a dockerd just started in the background with the subid lock held on fd 9
# (tests/docker/lib.sh's start_dockerd, tests/swarm/fleet_lib.sh's start_node_dockerd): until
# CMD... answers, at most SECS. Skip when that dockerd died (it cannot run here), fail when it
# is late; the lock is released either way.
wait_dockerd() { # PID LOG SECS WHAT CMD...
	local pid=$1 log=$2 secs=$3 what=$4 deadline
	shift 4
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$log" >&2
			flock -u 9
			skip "dockerd cannot run here"
		fi
		((SECONDS < deadline)) || { flock -u 9; fail "$what did not come up in ${secs}s"; }
		sleep 0.2
	done
	flock -u 9
}

need_userns() {
	unshare --user --map-root-user true 2>/dev/null || skip "user namespaces are not available"
}

cleanup() {
	local rc=$?
	set +e
	eval "${LB_ON_EXIT:-}"
	if [[ -n $BROKER_PID ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -TERM "$BROKER_PID" 2>/dev/null || true
		wait "$BROKER_PID" 2>/dev/null || true
	fi
	double_stop
	if [[ -n ${T:-} && -d $T ]]; then
		# Innermost mounts first.
		{ grep -o " $T/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
		[[ -n ${LB_KEEP:-} ]] || rm -rf "$T"
	fi
	exit $rc
}

# on_exit CMD: run CMD first (before the broker and a test double stop) however the test ends.
LB_ON_EXIT=
on_exit() { LB_ON_EXIT+="$1;"; }

# A store test's double (tests/servers/*_double.py): DOUBLE_PID, stopped by cleanup; its
# seed, TLS material and credential files live in $F (they hold canaries on purpose).
DOUBLE_PID=
# shellcheck disable=SC2034 # used by the store libraries and tests that source this file
SERVERS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../servers" && pwd)
double_stop() {
	if [[ -n $DOUBLE_PID ]] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
		kill -TERM "$DOUBLE_PID" 2>/dev/null || true
		wait "$DOUBLE_PID" 2>/dev/null || true
	fi
	DOUBLE_PID=
}
# double_setup WHAT: the tools a double needs (else skip), and $F.
double_setup() {
	command -v python3 >/dev/null || skip "python3 is needed for the $1 test double"
	command -v openssl >/dev/null || skip "openssl is needed for the test CA"
	command -v curl >/dev/null || skip "curl is needed for the double's admin endpoint"
	F=$T/fixture
	mkdir -p "$F"
	chmod 0700 "$F"
}
# double_admin PORT METHOD PATH [JSON]: the double's plain-HTTP admin endpoint; prints the reply.
double_admin() {
	local port=$1
	shift
	if [[ $1 == GET ]]; then
		curl -sf "http://127.0.0.1:$port$2"
	else
		curl -sf -X "$1" -H 'Content-Type: application/json' -d "${3:-{\}}" "http://127.0.0.1:$port$2"
	fi
}

T=$(mktemp -d /tmp/lbtest.XXXXXX)
chmod 0711 "$T"
trap cleanup EXIT
CONF=$T/lockbox.json

# lockboxctl; everything it prints is also kept in $T/ctl.all for the canary checks.
ctl() {
	local rc=0
	"$LB_BIN/lockboxctl" --config "$CONF" "$@" >"$T/ctl.stdout" 2>"$T/ctl.stderr" || rc=$?
	cat "$T/ctl.stdout" "$T/ctl.stderr" >>"$T/ctl.all"
	cat "$T/ctl.stdout"
	cat "$T/ctl.stderr" >&2
	return $rc
}

put_secret() { # NAME VALUE
	printf '%s' "$2" | ctl secret put "$1" >/dev/null
}

start_broker() {
	"$LB_BIN/lockboxd" --config "$CONF" 2>>"$T/lockboxd.log" &
	BROKER_PID=$!
	wait_for "control socket" 10 test -S "$T/run/control.sock"
}

stop_broker() { # [SIGNAL]
	kill -"${1:-TERM}" "$BROKER_PID"
	local rc=0
	wait "$BROKER_PID" || rc=$?
	BROKER_PID=
	rm -f "$T/run/control.sock"
	return $rc
}

wait_for() { # WHAT SECONDS CMD...
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" 2>/dev/null; do
		((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
		sleep 0.05
	done
}

generation_of() { # TARGET
	readlink "$T/run/t/$1/..data" | sed 's/^\.\.gen-//'
}

assert_eq() { # GOT WANT WHAT
	[[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"
}

# No canary value anywhere outside the sealed files and the target tmpfs.
assert_no_canary() { # VALUE [GREP_OPTION...]
	local v=$1
	shift
	local hits
	hits=$(grep -rlF --exclude-dir=sealed --exclude-dir=run "$@" -- "$v" "$T" 2>/dev/null || true)
	[[ -z $hits ]] || fail "canary value found in: $hits"
}

write_basic_config() { # extra target json (optional)
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": { "local": { "type": "sealed" } },
  "bindings": {
    "web": {
      "secrets": {
        "db_password": "local:web/db_password",
        "api_key": { "from": "local:web/api_key", "mode": "0440" }
      },
      "refresh": "${REFRESH:-1h}",
      "grace": "${GRACE:-1s}",
      "size": "256k"
    }
  },
  "targets": {
    "demo": { "binding": "web", "uid": 1000, "gid": 1000, "uid_map": "0 100000 65536" }${1:-}
  }
}
JSON
}

# A user namespace with map "0 $1 65536" held open by a sleeping process (USERNS_PID);
# as_user UID CMD... runs CMD in it as UID (nsenter drops every capability for uid != 0).
USERNS_PID=
make_userns() { # OUTSIDE_BASE
	need_userns
	unshare --user sleep 600 &
	USERNS_PID=$!
	wait_for "user namespace" 5 ns_differs "$USERNS_PID"
	echo "0 $1 65536" >"/proc/$USERNS_PID/uid_map"
	echo "0 $1 65536" >"/proc/$USERNS_PID/gid_map"
	# cleanup exits with the status it finds: hand it the test's, not kill's.
	trap 'rc=$?; kill $USERNS_PID 2>/dev/null; (exit $rc); cleanup' EXIT
}
ns_differs() { [[ $(readlink "/proc/$1/ns/user") != "$(readlink /proc/self/ns/user)" ]]; }
as_user() { # UID CMD...
	local uid=$1
	shift
	nsenter --user --target "$USERNS_PID" --setuid "$uid" --setgid "$uid" -- "$@"
}

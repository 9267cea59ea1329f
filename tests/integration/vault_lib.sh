# shellcheck shell=bash
# Helpers for the vault store tests: the Vault test double (tests/servers) and configs.
# Usage: source vault_lib.sh BIN_DIR   (sources lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$1"
SERVERS=$(cd "$(dirname "${BASH_SOURCE[0]}")/../servers" && pwd)
DOUBLE_PID=

command -v python3 >/dev/null || skip "python3 is needed for the Vault test double"
# The interpreter itself, not a version-manager shim (pyenv's costs seconds per call on a
# loaded machine, and timing tests poll with it).
PYTHON3=$(python3 -c 'import sys; print(sys.executable)')
python3() { "$PYTHON3" "$@"; }
command -v openssl >/dev/null || skip "openssl is needed for the test CA"

VAULT_ON_EXIT=
vault_cleanup() {
	local rc=$?
	set +e
	eval "$VAULT_ON_EXIT"
	if [[ -n $DOUBLE_PID ]] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
		kill -TERM "$DOUBLE_PID" 2>/dev/null
		wait "$DOUBLE_PID" 2>/dev/null
	fi
	# cleanup() exits with the status it finds in $?: hand it the test's.
	(exit $rc)
	cleanup
}
trap vault_cleanup EXIT
# vault_on_exit CMD: run CMD (before the double and the broker stop) however the test ends.
vault_on_exit() { VAULT_ON_EXIT+="$1;"; }

# The double's seed, TLS material, token and secret_id files live in $F (they hold the
# canaries on purpose); assert_vault_canary checks everything else.
F=$T/fixture
mkdir -p "$F"
chmod 0700 "$F"

# start_double SEED_JSON: TLS material in $F/tls, $VPORT and $APORT set
# (DOUBLE_PORT / DOUBLE_ADMIN_PORT: fixed ports, for a restart on the same address).
start_double() {
	[[ -d $F/tls ]] || "$SERVERS/make_ca.sh" "$F/tls" >/dev/null 2>&1 || fail "make_ca.sh failed"
	printf '%s' "$1" >"$F/seed.json"
	rm -f "$F/vport" "$F/aport"
	"$PYTHON3" "$SERVERS/vault_double.py" --seed "$F/seed.json" --tls-dir "$F/tls" \
		--port "${DOUBLE_PORT:-0}" --admin-port "${DOUBLE_ADMIN_PORT:-0}" --port-file "$F/vport" --admin-port-file "$F/aport" --max-seconds 170 \
		>>"$F/double.log" 2>&1 &
	DOUBLE_PID=$!
	wait_for "vault double" 10 test -s "$F/vport"
	VPORT=$(cat "$F/vport")
	APORT=$(cat "$F/aport")
}

stop_double() {
	kill -TERM "$DOUBLE_PID" 2>/dev/null || true
	wait "$DOUBLE_PID" 2>/dev/null || true
	DOUBLE_PID=
}

# No canary outside the fixtures and the target tmpfs: logs, audit, state, ctl output.
assert_vault_canary() { # VALUE...
	local v hits
	for v in "$@"; do
		hits=$(grep -rlF --exclude-dir=sealed --exclude-dir=run --exclude-dir=fixture -- "$v" "$T" 2>/dev/null || true)
		[[ -z $hits ]] || fail "canary value $v found in: $hits"
	done
}

# admin METHOD PATH [JSON]: the double's admin endpoint; prints the reply.
admin() {
	if [[ $1 == GET ]]; then
		curl -sf "http://127.0.0.1:$APORT$2"
	else
		curl -sf -X "$1" -H 'Content-Type: application/json' -d "${3:-{\}}" "http://127.0.0.1:$APORT$2"
	fi
}

# count PATH: how many requests the double saw for PATH (after /v1/, no query).
count() {
	admin GET /admin/requests | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}

# jq-less JSON field: jget 'expr' evaluates a python expression on j (stdin JSON).
jget() {
	python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# vault_config AUTH_JSON BINDINGS_JSON TARGETS_JSON [EXTRA_STORE_KEYS]
vault_config() {
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "vault": { "type": "vault", "address": "https://127.0.0.1:$VPORT",
               "ca_file": "$F/tls/ca.crt"${4:+, $4},
               "auth": $1 }
  },
  "bindings": $2,
  "targets": $3
}
JSON
}

# Content of a target's secret file.
secret_of() { cat "$T/run/t/$1/$2" 2>/dev/null; }
has_value() { [[ $(secret_of "$1" "$2") == "$3" ]]; }

# shellcheck shell=bash
# Helpers for the vault store tests: the Vault test double (tests/servers) and configs.
# Usage: source vault_lib.sh BIN_DIR   (sources lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$1"
double_setup Vault

# The interpreter itself, not a version-manager shim (pyenv's costs seconds per call on a
# loaded machine, and timing tests poll with it).
PYTHON3=$(python3 -c 'import sys; print(sys.executable)')
python3() { "$PYTHON3" "$@"; }

# vault_on_exit CMD: run CMD (before the double and the broker stop) however the test ends.
vault_on_exit() { on_exit "$1"; }

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

stop_double() { double_stop; }

# No canary outside the fixtures and the target tmpfs: logs, audit, state, ctl output.
assert_vault_canary() { # VALUE...
	local v hits
	for v in "$@"; do
		hits=$(grep -rlF --exclude-dir=sealed --exclude-dir=run --exclude-dir=fixture -- "$v" "$T" 2>/dev/null || true)
		[[ -z $hits ]] || fail "canary value $v found in: $hits"
	done
}

# admin METHOD PATH [JSON]: the double's admin endpoint; prints the reply.
admin() { double_admin "$APORT" "$@"; }

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

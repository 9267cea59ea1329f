# shellcheck shell=bash
# Helpers for the gcp-sm store tests: the GCP test double (tests/servers/gcp_double.py).
# Usage: source gcp_lib.sh BIN_DIR   (sources lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$1"
double_setup GCP

# start_double SEED_JSON: sets GPORT (API + token_uri, HTTPS), MPORT (metadata, HTTP),
# APORT (admin); writes $F/sa.json.
start_double() {
	[[ -d $F/tls ]] || "$SERVERS/make_ca.sh" "$F/tls" >/dev/null 2>&1 || fail "make_ca.sh failed"
	printf '%s' "$1" >"$F/seed.json"
	rm -f "$F/gport" "$F/mport" "$F/aport"
	python3 "$SERVERS/gcp_double.py" --seed "$F/seed.json" --tls-dir "$F/tls" \
		--credentials-out "$F/sa.json" --port-file "$F/gport" \
		--metadata-port-file "$F/mport" --admin-port-file "$F/aport" --max-seconds 90 \
		>>"$F/double.log" 2>&1 &
	DOUBLE_PID=$!
	wait_for "gcp double" 20 test -s "$F/gport"
	GPORT=$(cat "$F/gport")
	# shellcheck disable=SC2034 # used by the tests that source this file
	MPORT=$(cat "$F/mport")
	APORT=$(cat "$F/aport")
}

# admin METHOD PATH [JSON]: the double's admin endpoint; prints the reply.
admin() { double_admin "$APORT" "$@"; }

# count KEY: a counter of the double (access, access_ok, token, token_ok, metadata, ...).
count() {
	admin GET /admin/state | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}

# gcp_config STORE_EXTRA_KEYS BINDINGS_JSON TARGETS_JSON
gcp_config() {
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "gcp": { "type": "gcp-sm", "project": "test-project",
             "endpoint": "https://127.0.0.1:$GPORT", "ca_file": "$F/tls/ca.crt"${1:+, $1} }
  },
  "bindings": $2,
  "targets": $3
}
JSON
}

secret_of() { cat "$T/run/t/$1/$2" 2>/dev/null; }
has_value() { [[ $(secret_of "$1" "$2") == "$3" ]]; }


# gcp_metadata_up TOKEN_TTL: the double with secrets a, b, c, binding web on store gcp with the
# metadata server's token (GCE_METADATA_HOST), target demo; the broker started and the first
# values and token requests checked.
gcp_metadata_up() {
	start_double '{
	  "project": "test-project",
	  "metadata_token_ttl": '"$1"',
	  "secrets": {
	    "a": [{"data": "canary-a1-0be4"}],
	    "b": [{"data": "canary-b1-0be4"}],
	    "c": [{"data": "canary-c1-0be4"}]
	  }
	}'
	gcp_config '' '{
	  "web": { "secrets": { "a": "gcp:a", "b": "gcp:b", "c": "gcp:c" },
	           "refresh": "1s", "grace": "1s", "size": "256k" } }' '{
	  "demo": { "binding": "web", "uid": 1000, "gid": 1000 } }'
	export GCE_METADATA_HOST=127.0.0.1:$MPORT

	start_broker
	wait_for "values from a metadata token" 15 has_value demo c canary-c1-0be4
	(($(count metadata) >= 1)) || fail "no metadata token request"
	assert_eq "$(count metadata_refused)" "0" "metadata requests without Metadata-Flavor"
	assert_eq "$(count token)" "0" "service-account token requests"
	pass "metadata server token (Metadata-Flavor: Google)"
}

# No canary outside the fixtures and the target tmpfs: logs, audit, state, ctl output.
assert_gcp_canary() { # VALUE...
	local v hits
	for v in "$@"; do
		hits=$(grep -rlF --exclude-dir=sealed --exclude-dir=run --exclude-dir=fixture -- "$v" "$T" 2>/dev/null || true)
		[[ -z $hits ]] || fail "canary value $v found in: $hits"
	done
}

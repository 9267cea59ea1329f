# shellcheck shell=bash
# Helpers for the azure-kv store tests: the Azure test double (tests/servers/azure_double.py).
# Usage: source azure_lib.sh BIN_DIR   (sources lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$1"
double_setup Azure
# shellcheck disable=SC2034 # used by the tests that source this file
TENANT=00000000-0000-0000-0000-00000000abcd
# shellcheck disable=SC2034 # used by the tests that source this file
CLIENT=11111111-2222-3333-4444-555555555555

# start_double SEED_JSON: sets ZPORT (Key Vault + Entra ID, HTTPS), IPORT (IMDS, HTTP),
# APORT (admin); writes $F/client.pem (key + certificate) and $F/client_secret.
start_double() {
	[[ -d $F/tls ]] || "$SERVERS/make_ca.sh" "$F/tls" >/dev/null 2>&1 || fail "make_ca.sh failed"
	printf '%s' "$1" >"$F/seed.json"
	rm -f "$F/zport" "$F/iport" "$F/aport"
	python3 "$SERVERS/azure_double.py" --seed "$F/seed.json" --tls-dir "$F/tls" \
		--cert-out "$F/client.pem" --secret-out "$F/client_secret" --port-file "$F/zport" \
		--imds-port-file "$F/iport" --admin-port-file "$F/aport" --max-seconds 90 \
		>>"$F/double.log" 2>&1 &
	DOUBLE_PID=$!
	wait_for "azure double" 20 test -s "$F/zport"
	ZPORT=$(cat "$F/zport")
	# shellcheck disable=SC2034 # used by the tests that source this file
	IPORT=$(cat "$F/iport")
	APORT=$(cat "$F/aport")
}

# admin METHOD PATH [JSON]: the double's admin endpoint; prints the reply.
admin() { double_admin "$APORT" "$@"; }

count() {
	admin GET /admin/state | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}

# store_json NAME EXTRA_KEYS: one azure-kv store pointed at the double.
store_json() {
	printf '"%s": { "type": "azure-kv", "vault_url": "https://lockbox-test.vault.azure.net", "endpoint": "https://127.0.0.1:%s", "authority_host": "https://127.0.0.1:%s", "ca_file": "%s"%s }' \
		"$1" "$ZPORT" "$ZPORT" "$F/tls/ca.crt" "${2:+, $2}"
}

# azure_config STORES_JSON BINDINGS_JSON TARGETS_JSON
azure_config() {
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": { $1 },
  "bindings": $2,
  "targets": $3
}
JSON
}

secret_of() { cat "$T/run/t/$1/$2" 2>/dev/null; }
has_value() { [[ $(secret_of "$1" "$2") == "$3" ]]; }

assert_azure_canary() { # VALUE...
	local v hits
	for v in "$@"; do
		hits=$(grep -rlF --exclude-dir=sealed --exclude-dir=run --exclude-dir=fixture -- "$v" "$T" 2>/dev/null || true)
		[[ -z $hits ]] || fail "canary value $v found in: $hits"
	done
}


# azure_two_stores_up TOKEN_TTL: the double with secrets db and api, a client-certificate store
# (cert) and a managed-identity store (mi) side by side on binding web, target demo; the
# broker started and both stores' first values and tokens checked.
azure_two_stores_up() {
	start_double '{
	  "token_ttl": '"$1"',
	  "secrets": {
	    "db":  [{"value": "canary-db-v1-a07c"}],
	    "api": [{"value": "{\"key\": \"canary-api-a07c\"}"}]
	  }
	}'
	azure_config "$(store_json cert '"tenant_id": "'$TENANT'", "client_id": "'$CLIENT'", "client_certificate_file": "'"$F"'/client.pem"'), $(store_json mi '')" '{
	  "web": { "secrets": {
	      "db":     "cert:db",
	      "key":    "cert:api#key",
	      "mi_db":  "mi:db",
	      "mi_key": "mi:api#key"
	    }, "refresh": "1s", "grace": "1s", "size": "256k" } }' '{
	  "demo": { "binding": "web", "uid": 1000, "gid": 1000 } }'
	export AZURE_IMDS_ENDPOINT=http://127.0.0.1:$IPORT

	start_broker
	wait_for "values" 15 has_value demo mi_key canary-api-a07c
	wait_for "values" 5 has_value demo key canary-api-a07c
	assert_eq "$(secret_of demo db)" "canary-db-v1-a07c" "client certificate store"
	assert_eq "$(secret_of demo mi_db)" "canary-db-v1-a07c" "managed identity store"
	(($(count token_cert) >= 1)) || fail "no token for the client certificate"
	(($(count imds_ok) >= 1)) || fail "no IMDS token"
	assert_eq "$(count token_refused)" "0" "refused client assertions"
	assert_eq "$(count imds_refused)" "0" "IMDS requests without Metadata: true"
	pass "client certificate (x5t assertion) and managed identity (IMDS)"
}

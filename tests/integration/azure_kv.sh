#!/usr/bin/env bash
# azure-kv store, client secret: latest and pinned versions, #field of a JSON value,
# SecretNotFound and SecretDisabled named in the audit, a new version on refresh with the
# cached token, the token requested with the vault's scope, no canary outside the targets.
source "$(dirname "$0")/azure_lib.sh" "$1"
need_root

start_double '{
  "client_secret": "canary-clientsecret-5d1e",
  "secrets": {
    "db": [{"value": "canary-db-v1-5d1e", "version": "0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
           {"value": "canary-db-v2-5d1e"}],
    "app": [{"value": "{\"user\": \"appuser\", \"password\": \"canary-app-5d1e\"}"}],
    "off": [{"value": "canary-off-5d1e", "enabled": false}]
  }
}'
azure_config "$(store_json kv '"tenant_id": "'$TENANT'", "client_id": "'$CLIENT'", "client_secret_file": "'"$F"'/client_secret"')" '{
  "web": { "secrets": {
      "db":  "kv:db",
      "db1": "kv:db?version=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
      "pw":  "kv:app#password",
      "user": "kv:app#user"
    }, "refresh": "1h", "grace": "1s", "size": "256k" },
  "bad": { "secrets": {
      "db":   "kv:db",
      "off":  "kv:off",
      "gone": "kv:nosuch"
    }, "refresh": "1h", "grace": "1s", "size": "256k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
  "other": { "binding": "bad", "uid": 1000, "gid": 1000 } }'

start_broker
wait_for "latest version" 15 has_value demo db canary-db-v2-5d1e
assert_eq "$(secret_of demo db1)" "canary-db-v1-5d1e" "pinned version"
assert_eq "$(secret_of demo pw)" "canary-app-5d1e" "#password"
assert_eq "$(secret_of demo user)" "appuser" "#user"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["secrets"]["db1"]["version"]=="0a1b2c3d4e5f60718293a4b5c6d7e8f9", m' \
	"$T/run/t/demo/..data/.manifest.json" || fail "manifest version"
(($(count token_secret) >= 1)) || fail "no token for the client secret"
assert_eq "$(count token_refused)" "0" "refused token requests"
pass "client secret; latest, pinned version, #field"

wait_for "other target" 10 has_value other db canary-db-v2-5d1e
audit=$T/state/audit.jsonl
wait_for "audit of disabled secret" 10 grep -q '"secret": *"off".*SecretDisabled' "$audit"
grep -q '"secret": *"gone".*SecretNotFound' "$audit" || fail "SecretNotFound not reported by name"
[[ ! -e $T/run/t/other/off && ! -e $T/run/t/other/gone ]] || fail "failed secrets must not be published"
pass "SecretDisabled and SecretNotFound reported for those secrets only"

admin POST /admin/reset-counts >/dev/null
admin POST /admin/secret '{"name": "db", "value": "canary-db-v3-5d1e"}' >/dev/null
ctl rotate demo >/dev/null
wait_for "new version" 10 has_value demo db canary-db-v3-5d1e
assert_eq "$(secret_of demo db1)" "canary-db-v1-5d1e" "pinned version after a new one"
assert_eq "$(count token)" "0" "token requests while the token is fresh"
assert_eq "$(count challenge)" "0" "requests sent without a token"
pass "refresh: new version with the cached token"

out=$(ctl --json status)
echo "$out" | grep -q '"resource": *"https://vault.azure.net"' || fail "status: $out"
stop_broker
assert_azure_canary canary-db-v1-5d1e canary-db-v2-5d1e canary-db-v3-5d1e canary-app-5d1e \
	canary-off-5d1e canary-clientsecret-5d1e eyJ0eXAiOiJKV1Qi.double
pass "no canary, client secret or token in logs, audit or state"

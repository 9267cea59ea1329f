#!/usr/bin/env bash
# gcp-sm store, service-account key: JWT signed by lockboxd and verified by the double,
# latest and pinned versions, #field of a JSON payload, a disabled version and a missing
# secret named in the audit, shared reads, no canary outside the targets.
source "$(dirname "$0")/gcp_lib.sh" "$1"
need_root

start_double '{
  "project": "test-project",
  "secrets": {
    "db": [{"data": "canary-db-v1-71c2"}, {"data": "canary-db-v2-71c2"}],
    "app": [{"data": "{\"user\": \"appuser\", \"password\": \"canary-app-71c2\"}"}],
    "off": [{"data": "canary-off-71c2", "state": "DISABLED"}]
  }
}'
gcp_config '"credentials_file": "'"$F"'/sa.json"' '{
  "web": { "secrets": {
      "db":     "gcp:db",
      "db1":    "gcp:db?version=1",
      "pw":     "gcp:app#password",
      "user":   "gcp:app#user"
    }, "refresh": "1h", "grace": "1s", "size": "256k" },
  "bad": { "secrets": {
      "db":     "gcp:db",
      "off":    "gcp:off",
      "gone":   "gcp:nosuch"
    }, "refresh": "1h", "grace": "1s", "size": "256k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
  "third": { "binding": "web", "uid": 1000, "gid": 1000 },
  "other": { "binding": "bad", "uid": 1000, "gid": 1000 } }'

start_broker
wait_for "latest version" 15 has_value demo db canary-db-v2-71c2
assert_eq "$(secret_of demo db1)" "canary-db-v1-71c2" "?version=1"
assert_eq "$(secret_of demo pw)" "canary-app-71c2" "#password"
assert_eq "$(secret_of demo user)" "appuser" "#user"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["secrets"]["db"]["version"]=="2", m; assert m["secrets"]["db1"]["version"]=="1", m' \
	"$T/run/t/demo/..data/.manifest.json" || fail "manifest versions"
(($(count token_ok) >= 1)) || fail "no token was issued"
(($(count token_refused) == 0)) || fail "the double refused a JWT"
pass "service-account JWT accepted; latest, ?version=1, #field"

wait_for "other target" 10 has_value other db canary-db-v2-71c2
audit=$T/state/audit.jsonl
wait_for "audit of disabled version" 10 grep -q '"secret": *"off".*FAILED_PRECONDITION' "$audit"
grep -q '"secret": *"gone".*NOT_FOUND' "$audit" || fail "NOT_FOUND not reported by name"
[[ ! -e $T/run/t/other/off && ! -e $T/run/t/other/gone ]] || fail "failed secrets must not be published"
pass "disabled version and missing secret reported by their API error names"

# Both targets read "db" (latest): coalesced reads cost fewer requests than fetches.
admin POST /admin/reset-counts >/dev/null
admin POST /admin/secret '{"name": "db", "data": "canary-db-v3-71c2"}' >/dev/null
ctl rotate demo >/dev/null
wait_for "new version" 10 has_value demo db canary-db-v3-71c2
assert_eq "$(secret_of demo db1)" "canary-db-v1-71c2" "pinned version after a new one"
assert_eq "$(count token)" "0" "token requests while the token is fresh"
pass "refresh picks up a new version with the cached token; pinned version stays"

# demo and third read gcp:app twice each (#password, #user): one rotation of every target
# costs one read of it.
admin POST /admin/secret '{"name": "app", "data": "{\"user\": \"appuser\", \"password\": \"canary-app2-71c2\"}"}' >/dev/null
admin POST /admin/reset-counts >/dev/null
ctl rotate >/dev/null
wait_for "new app in demo" 10 has_value demo pw canary-app2-71c2
wait_for "new app in third" 10 has_value third pw canary-app2-71c2
assert_eq "$(count access:app)" "1" "reads of app for two targets in one rotation"
pass "one read of a source shared by two targets"

out=$(ctl --json status)
echo "$out" | grep -q '"credentials": *"service account key"' || fail "status: $out"
stop_broker
assert_gcp_canary canary-db-v1-71c2 canary-db-v2-71c2 canary-db-v3-71c2 canary-app2-71c2 canary-app-71c2 \
	canary-off-71c2 BEGIN ya29.double
pass "no canary, key or token in logs, audit or state"

#!/usr/bin/env bash
# aws-ssm store, static session credentials from the store config (access key id, secret
# key file, session token file): GetParameter WithDecryption, hierarchical names (the
# leading '/' added), a plain name, version pinning (name:N) and labels (name:LABEL), #field
# of a JSON value, ParameterNotFound / ParameterVersionNotFound named, a new version
# publishes, and no canary outside the fixtures and the tmpfs.
source "$(dirname "$0")/aws_lib.sh" "$1"
need_root

start_double '{
  "region": "eu-west-1",
  "keys": {"AKIDSSMTEST": {"secret": "canary-ssmsk-8a4f", "token": "canary-ssmtok-8a4f"}},
  "parameters": {
    "/prod/db/password": [{"value": "canary-p1-8a4f", "labels": ["blue"]}, {"value": "canary-p2-8a4f"}],
    "plain": {"value": "canary-plain-8a4f", "type": "String"},
    "/app/json": {"value": "{\"user\":\"u\",\"token\":\"canary-json-8a4f\"}"}
  }
}'
printf 'canary-ssmsk-8a4f\n' >"$F/sk"
printf 'canary-ssmtok-8a4f\n' >"$F/tok"
aws_config "{ \"ps\": $(aws_store aws-ssm '"access_key_id": "AKIDSSMTEST", "secret_access_key_file": "'"$F/sk"'", "session_token_file": "'"$F/tok"'"') }" '{
  "web": { "secrets": {
      "pw":    "ps:prod/db/password",
      "v1":    "ps:prod/db/password?version=1",
      "blue":  "ps:prod/db/password?version=blue",
      "plain": "ps:plain",
      "tok":   "ps:app/json#token",
      "json":  "ps:app/json"
    }, "refresh": "1h", "grace": "1s", "size": "64k" },
  "bad": { "secrets": {
      "plain":   "ps:plain",
      "missing": "ps:prod/nope",
      "nover":   "ps:prod/db/password?version=9"
    }, "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
  "other": { "binding": "bad", "uid": 1000, "gid": 1000 } }'

start_broker
wait_for "latest parameter" 10 has_value demo pw canary-p2-8a4f
assert_eq "$(secret_of demo v1)" "canary-p1-8a4f" "?version=1 (name:1)"
assert_eq "$(secret_of demo blue)" "canary-p1-8a4f" "?version=blue (label)"
assert_eq "$(secret_of demo plain)" "canary-plain-8a4f" "plain name"
assert_eq "$(secret_of demo tok)" "canary-json-8a4f" "#token of a JSON value"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j=={"user":"u","token":"canary-json-8a4f"}, j' "$T/run/t/demo/json" || fail "whole JSON value"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["secrets"]["pw"]["version"]=="2" and m["secrets"]["v1"]["version"]=="1", m' "$T/run/t/demo/..data/.manifest.json" || fail "manifest versions"
admin GET /admin/requests | python3 -c '
import json,sys
names={e["name"] for e in json.load(sys.stdin)["log"] if e["target"]=="AmazonSSM.GetParameter"}
assert {"/prod/db/password","/prod/db/password:1","/prod/db/password:blue","plain","/app/json"} <= names, names
' || fail "GetParameter names on the wire"
pass "latest, name:N, name:LABEL, plain name, #field, versions in the manifest"

audit=$T/state/audit.jsonl
wait_for "ParameterNotFound audited" 5 grep -q '"secret":"missing".*ParameterNotFound' "$audit"
grep -q '"secret":"nover".*ParameterVersionNotFound' "$audit" || fail "ParameterVersionNotFound not named"
wait_for "other target" 5 has_value other plain canary-plain-8a4f
pass "ParameterNotFound / ParameterVersionNotFound named, for those secrets only"

curl -sf -X POST -d '{"name":"/prod/db/password","value":"canary-p3-8a4f"}' "http://127.0.0.1:$ADMPORT/admin/parameter" >/dev/null
ctl rotate demo >/dev/null
wait_for "new version" 5 has_value demo pw canary-p3-8a4f
assert_eq "$(secret_of demo v1)" "canary-p1-8a4f" "pin after a new version"
ctl --json status | grep -q '"credentials_source": *"store config"' || fail "status: $(cat "$T/ctl.stdout")"
pass "a new version publishes; pins hold"

stop_broker
assert_aws_canary canary-p1-8a4f canary-p2-8a4f canary-p3-8a4f canary-plain-8a4f canary-json-8a4f \
	canary-ssmsk-8a4f canary-ssmtok-8a4f
pass "no canary in logs, audit, state or ctl output"

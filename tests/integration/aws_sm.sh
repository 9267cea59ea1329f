#!/usr/bin/env bash
# aws-sm store, static credentials from the store config: SecretString, SecretBinary,
# #field of a JSON SecretString, the whole object, version pinning by staging label and by
# VersionId, errors named by __type for one secret only, one request per (name, version)
# for two targets, unchanged refresh costs no write, a new version publishes, and no canary
# (values, secret key) outside the fixtures and the tmpfs.
source "$(dirname "$0")/aws_lib.sh" "$1"
need_root

BIN_B64=$(printf 'canary-bin-\001\002\377-71c2' | base64 -w0)
start_double '{
  "region": "eu-west-1",
  "keys": {"AKIDLOCKBOXTEST1": "canary-sk-71c2/K7MDENG+bPxRfiCY"},
  "secrets": {
    "prod/db": [{"string": "{\"password\":\"canary-old-71c2\",\"user\":\"u1\"}"},
                {"string": "{\"password\":\"canary-pw-71c2\",\"user\":\"webuser\"}"}],
    "plain": {"string": "canary-plain-71c2"},
    "bin": {"binary_b64": "'"$BIN_B64"'"},
    "staged": [{"string": "canary-s1-71c2", "stages": ["blue"]}, {"string": "canary-s2-71c2"}],
    "denied": {"string": "canary-denied-71c2"}
  },
  "deny": ["denied"]
}'
printf 'canary-sk-71c2/K7MDENG+bPxRfiCY\n' >"$F/sk"
VID1=$(admin GET /admin/secrets | jget 'j["prod/db"][0]["VersionId"]')
aws_config "{ \"sm\": $(aws_store aws-sm '"access_key_id": "AKIDLOCKBOXTEST1", "secret_access_key_file": "'"$F/sk"'"') }" '{
  "web": { "secrets": {
      "pw":     "sm:prod/db#password",
      "user":   "sm:prod/db#user",
      "all":    "sm:prod/db",
      "plain":  "sm:plain",
      "bin":    "sm:bin",
      "prev":   "sm:prod/db#password?version=AWSPREVIOUS",
      "byid":   "sm:prod/db#password?version='"$VID1"'",
      "blue":   "sm:staged?version=blue"
    }, "refresh": "1h", "grace": "1s", "size": "256k" },
  "bad": { "secrets": {
      "plain":   "sm:plain",
      "missing": "sm:nope",
      "denied":  "sm:denied",
      "nostage": "sm:plain?version=AWSPENDING"
    }, "refresh": "1h", "grace": "1s", "size": "256k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
  "twin": { "binding": "web", "uid": 1001, "gid": 1001 },
  "other": { "binding": "bad", "uid": 1000, "gid": 1000 } }'

start_broker
wait_for "SecretString #field" 10 has_value demo pw canary-pw-71c2
assert_eq "$(secret_of demo user)" "webuser" "#user"
assert_eq "$(secret_of demo plain)" "canary-plain-71c2" "plain SecretString"
assert_eq "$(base64 -w0 <"$T/run/t/demo/bin")" "$BIN_B64" "SecretBinary bytes"
assert_eq "$(secret_of demo prev)" "canary-old-71c2" "?version=AWSPREVIOUS"
assert_eq "$(secret_of demo byid)" "canary-old-71c2" "?version=VersionId"
assert_eq "$(secret_of demo blue)" "canary-s1-71c2" "?version=custom stage"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j=={"password":"canary-pw-71c2","user":"webuser"}, j' "$T/run/t/demo/all" || fail "whole object"
pass "SecretString, #field, whole object, SecretBinary, AWSPREVIOUS, VersionId, custom stage"

wait_for "other target" 5 has_value other plain canary-plain-71c2
audit=$T/state/audit.jsonl
wait_for "not found audited" 5 grep -q '"secret":"missing".*ResourceNotFoundException' "$audit"
grep -q '"secret":"denied".*AccessDeniedException' "$audit" || fail "AccessDeniedException not named"
grep -q '"secret":"nostage".*ResourceNotFoundException.*staging label: AWSPENDING' "$audit" || fail "missing stage not named"
for n in missing denied nostage; do [[ ! -e $T/run/t/other/$n ]] || fail "$n must not be published"; done
pass "ResourceNotFoundException / AccessDeniedException named, for those secrets only"

# demo and twin read the same sources in one pass: one request each (target "other" keeps
# retrying its failed secrets and "plain", so count what only "web" reads). Every request
# carried a good signature (the double verifies each one, else the reads above failed).
wait_for "twin" 5 has_value twin pw canary-pw-71c2
assert_eq "$(count 'secretsmanager.GetSecretValue staged')" "1" "requests for staged (two targets)"
assert_eq "$(count 'secretsmanager.GetSecretValue prod/db')" "3" "requests for prod/db (latest, AWSPREVIOUS, VersionId)"
gen=$(generation_of demo)
admin POST /admin/reset-log >/dev/null
ctl rotate demo >/dev/null
reads_done() { (($(count 'secretsmanager.GetSecretValue staged') >= 1)); }
wait_for "refresh reads" 5 reads_done
sleep 0.5
assert_eq "$(generation_of demo)" "$gen" "generation after a refresh without a new version"
pass "one request per (name, version) for two targets; unchanged refresh costs no write"

admin POST /admin/secret '{"name":"prod/db","string":"{\"password\":\"canary-new-71c2\",\"user\":\"webuser\"}"}' >/dev/null
ctl rotate demo >/dev/null
wait_for "new version" 5 has_value demo pw canary-new-71c2
assert_eq "$(secret_of demo prev)" "canary-pw-71c2" "AWSPREVIOUS after a new version"
assert_eq "$(secret_of demo byid)" "canary-old-71c2" "VersionId pin after a new version"
VID3=$(admin GET /admin/secrets | jget 'j["prod/db"][2]["VersionId"]')
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["secrets"]["pw"]["version"]==sys.argv[2], m' "$T/run/t/demo/..data/.manifest.json" "$VID3" || fail "manifest version is not the VersionId"
pass "a new version publishes; pins hold; manifest version = VersionId"

out=$(ctl --json status)
echo "$out" | grep -q '"credentials_source": *"store config"' || fail "status: $out"
stop_broker
assert_aws_canary canary-pw-71c2 canary-old-71c2 canary-new-71c2 canary-plain-71c2 canary-s1-71c2 \
	canary-sk-71c2 canary-denied-71c2
pass "no canary in logs, audit, state or ctl output"

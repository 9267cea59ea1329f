#!/usr/bin/env bash
# aws-sm credential chain, one source at a time (lockboxd restarted with each environment):
# AWS_* environment (with a session token), the shared credentials file (AWS_PROFILE),
# ECS container credentials (FULL_URI + authorization token), EC2 IMDSv2 (token PUT, role,
# credentials; AWS_EC2_METADATA_SERVICE_ENDPOINT). Temporary credentials are fetched again
# before their Expiration (no request ever goes out with expired ones), and an
# ExpiredTokenException refreshes them and replays the request once, without a failure.
source "$(dirname "$0")/aws_lib.sh" "$1"
need_root

start_double '{
  "region": "eu-west-1",
  "keys": {"AKIDENVTEST": "canary-envsk-5d1e", "AKIDFILETEST": "canary-filesk-5d1e"},
  "secrets": {"app/key": {"string": "canary-value-5d1e"}},
  "imds": {"role": "lockbox-host-role"},
  "ecs": {"path": "/v2/credentials/task-5d1e", "authorization": "canary-ecsauth-5d1e"},
  "cred_ttl": 600
}'
aws_config "{ \"sm\": $(aws_store aws-sm) }" '{
  "web": { "secrets": { "key": "sm:app/key" }, "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 } }'
# fresh_start SOURCE: a new secret version, then lockboxd from scratch with this environment.
NV=0
fresh_start() {
	NV=$((NV + 1))
	admin POST /admin/secret "{\"name\":\"app/key\",\"string\":\"canary-v$NV-5d1e\"}" >/dev/null
	admin POST /admin/reset-log >/dev/null
	start_broker
	wait_for "value via $1" 10 has_value demo key "canary-v$NV-5d1e"
	out=$(ctl --json status)
	echo "$out" | grep -q "\"credentials_source\": *\"$1\"" || fail "credentials_source is not $1: $out"
}
# stats: one look at the double's counters (python starts slowly on a loaded machine):
# S_ECS S_IMDS_TOKEN S_IMDS_ROLE S_IMDS_CREDS S_EXPIRED S_ERRORS S_AKID (last key id used).
stats() {
	eval "$(admin GET /admin/requests | python3 -c '
import json,sys
j=json.load(sys.stdin); c=j["counts"]; log=j["log"]
akids=[e["akid"] for e in log if e["target"].startswith("secretsmanager") and e.get("akid")]
print("S_ECS=%d S_IMDS_TOKEN=%d S_IMDS_ROLE=%d S_IMDS_CREDS=%d S_EXPIRED=%d S_ERRORS=%d S_AKID=%s" % (
    c.get("ecs",0), c.get("imds-token",0), c.get("imds-role",0), c.get("imds-creds",0),
    sum(1 for e in log if e.get("type")=="ExpiredTokenException"),
    sum(1 for e in log if e.get("type")), akids[-1] if akids else "none"))')"
}

# 1. Environment.
AWS_ACCESS_KEY_ID=AKIDENVTEST AWS_SECRET_ACCESS_KEY=canary-envsk-5d1e fresh_start environment
stats
assert_eq "$S_AKID" "AKIDENVTEST" "key id used (environment)"
stop_broker
pass "environment credentials"

# 2. Shared credentials file, named profile; the environment's keys would win, so none.
mkdir -p "$F/home/.aws"
cat >"$F/creds.ini" <<INI
[default]
aws_access_key_id = AKIDWRONGPROFILE
aws_secret_access_key = nope

[lockbox]
aws_access_key_id = AKIDFILETEST
aws_secret_access_key = canary-filesk-5d1e
INI
AWS_SHARED_CREDENTIALS_FILE=$F/creds.ini AWS_PROFILE=lockbox fresh_start "shared credentials file"
stats
assert_eq "$S_AKID" "AKIDFILETEST" "key id used (shared file, profile lockbox)"
stop_broker
cp "$F/creds.ini" "$F/home/.aws/credentials"
sed -i 's/^\[lockbox\]/[other]/; s/^\[default\]/[unused]/; s/^\[other\]/[default]/' "$F/home/.aws/credentials"
fresh_start "shared credentials file"
stats
assert_eq "$S_AKID" "AKIDFILETEST" "key id used (~/.aws/credentials, default profile)"
stop_broker
rm -f "$F/home/.aws/credentials"
pass "shared credentials file (AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE, ~/.aws/credentials)"

# 3. ECS container credentials with an authorization token; then ExpiredTokenException.
export AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$METAPORT/v2/credentials/task-5d1e"
export AWS_CONTAINER_AUTHORIZATION_TOKEN=canary-ecsauth-5d1e
fresh_start "ECS container credentials"
stats
assert_eq "$S_ECS" "1" "ECS credential requests"
[[ $S_AKID == ASIA* ]] || fail "ECS: temporary key id expected, got $S_AKID"
first=$S_AKID
admin POST /admin/expire-credentials >/dev/null
audit_mark=$(wc -l <"$T/state/audit.jsonl")
admin POST /admin/secret '{"name":"app/key","string":"canary-value2-5d1e"}' >/dev/null
ctl rotate demo >/dev/null
wait_for "value after ExpiredTokenException" 10 has_value demo key canary-value2-5d1e
stats
assert_eq "$S_ECS" "2" "ECS credential requests after ExpiredTokenException"
assert_eq "$S_EXPIRED" "1" "ExpiredTokenException answers (refreshed once, replayed)"
[[ $S_AKID != "$first" ]] || fail "replay did not use the new credentials"
tail -n +"$((audit_mark + 1))" "$T/state/audit.jsonl" | grep -q fetch_failed && fail "ExpiredTokenException turned into a failure"
stop_broker
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN
pass "ECS credentials (authorization token); ExpiredTokenException: refreshed once and replayed"

# 4. EC2 IMDSv2 with short-lived credentials: refreshed before Expiration.
admin POST /admin/cred-ttl '{"ttl": 6}' >/dev/null
unset AWS_EC2_METADATA_DISABLED
export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$METAPORT"
fresh_start "EC2 IMDSv2"
stats
assert_eq "$S_IMDS_TOKEN $S_IMDS_ROLE $S_IMDS_CREDS" "1 1 1" "IMDSv2 token PUTs, role lookups, credential reads"
first=$S_AKID
sleep 4.5 # past the refresh point (Expiration - a third of the lifetime), before Expiration
admin POST /admin/secret '{"name":"app/key","string":"canary-value3-5d1e"}' >/dev/null
ctl rotate demo >/dev/null
wait_for "value with refreshed credentials" 10 has_value demo key canary-value3-5d1e
stats
assert_eq "$S_IMDS_CREDS" "2" "IMDSv2 credential reads after the refresh point"
[[ $S_AKID != "$first" ]] || fail "IMDS: the request did not use the refreshed credentials"
assert_eq "$S_ERRORS" "0" "errors seen by the double (expired credentials used?)"
stop_broker
pass "EC2 IMDSv2 credentials, refreshed before Expiration"

# 5. No usable source: an ECS full URI over plain HTTP to a non-local host is refused by
# name (credentials would cross the network in clear), nothing is published, no IMDS call.
unset AWS_EC2_METADATA_SERVICE_ENDPOINT
export AWS_EC2_METADATA_DISABLED=true
admin POST /admin/reset-log >/dev/null
admin POST /admin/secret '{"name":"app/key","string":"canary-never-5d1e"}' >/dev/null
audit_mark=$(wc -l <"$T/state/audit.jsonl")
AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.1/creds start_broker
refused() { tail -n +"$((audit_mark + 1))" "$T/state/audit.jsonl" | grep -q '"event":"fetch_failed".*no credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https'; }
wait_for "refused ECS URI audited" 10 refused
stats
assert_eq "$S_ECS $S_IMDS_TOKEN" "0 0" "credential requests with a refused ECS URI"
has_value demo key canary-value3-5d1e || fail "last good file not kept: $(secret_of demo key)"
ctl --json status | grep -q '"health": *"degraded"' || fail "status not degraded: $(cat "$T/ctl.stdout")"
stop_broker
pass "an insecure ECS credentials URI is refused by name; the last good file stays"

assert_aws_canary canary-value-5d1e canary-v1-5d1e canary-v4-5d1e canary-value2-5d1e canary-value3-5d1e canary-envsk-5d1e \
	canary-filesk-5d1e canary-ecsauth-5d1e
pass "no canary in logs, audit, state or ctl output"

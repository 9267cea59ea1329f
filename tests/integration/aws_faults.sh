#!/usr/bin/env bash
# aws-sm faults: ThrottlingException (HTTP 400, named by __type) and InternalServiceError
# (500) back off with capped exponential backoff (no spin), are audited with the store and
# reason, keep the last good file, show "degraded", and recover; a malformed reply likewise;
# a wrong secret key (InvalidSignatureException) is never retried in a loop, and once the
# key file is fixed the store re-reads it and recovers. No canary outside the fixtures.
source "$(dirname "$0")/aws_lib.sh" "$1"
need_root

start_double '{
  "region": "eu-west-1",
  "keys": {"AKIDFAULTTEST": "canary-sk-c07a"},
  "secrets": {"web/pw": {"string": "canary-f0-c07a"}, "sig/pw": {"string": "canary-sig-c07a"}}
}'
printf 'canary-sk-c07a\n' >"$F/sk"
printf 'canary-wrongsk-c07a\n' >"$F/badsk"
aws_config "{ \"sm\": $(aws_store aws-sm '"access_key_id": "AKIDFAULTTEST", "secret_access_key_file": "'"$F/sk"'"'),
  \"badsig\": $(aws_store aws-sm '"access_key_id": "AKIDFAULTTEST", "secret_access_key_file": "'"$F/badsk"'"') }" '{
  "web": { "secrets": { "pw": "sm:web/pw" }, "refresh": "1h", "grace": "1s", "size": "64k" },
  "sig": { "secrets": { "pw": "badsig:sig/pw" }, "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
  "sigdemo": { "binding": "sig", "uid": 1000, "gid": 1000 } }'
AUDIT=$T/state/audit.jsonl
start_broker
wait_for "first value" 10 has_value demo pw canary-f0-c07a

# A wrong secret key: refused, audited by __type, never retried in a loop.
wait_for "InvalidSignatureException audited" 10 grep -q '"store":"badsig".*InvalidSignatureException' "$AUDIT"
admin POST /admin/reset-log >/dev/null
# Asked again and again (rotate every ~0.5 s): the store's backoff, not the asking, sets the pace.
for _ in 1 2 3 4 5 6 7 8; do ctl rotate sigdemo >/dev/null; sleep 0.5; done
sigreqs=$(count 'secretsmanager.GetSecretValue sig/pw')
((sigreqs <= 4)) || fail "bad signature: $sigreqs requests for 8 rotations (retried without backoff)"
[[ ! -e $T/run/t/sigdemo/pw ]] || fail "published without a valid signature"
printf 'canary-sk-c07a\n' >"$F/badsk"
sig_recovered() {
	has_value sigdemo pw canary-sig-c07a && return 0
	ctl rotate sigdemo >/dev/null
	sleep 0.5
	has_value sigdemo pw canary-sig-c07a
}
wait_for "recovery with the fixed key file" 30 sig_recovered
pass "InvalidSignatureException: audited, $sigreqs request(s) for 8 rotations, key file re-read, recovered"

prev=canary-f0-c07a
n=0
new_audit() { tail -n +"$((audit_mark + 1))" "$AUDIT"; }
audited() { new_audit | grep -q "\"store\":\"sm\".*\"reason\":\"[^\"]*$1"; }
degraded() { ctl --json status | grep -q '"health": *"degraded"'; }
recovered() { # VALUE
	has_value demo pw "$1" && return 0
	ctl rotate demo >/dev/null
	sleep 0.5
	has_value demo pw "$1"
}
fault_round() { # NAME FAULT_JSON REASON_REGEX [MAX_REQUESTS]
	local name=$1 fault=$2 reason=$3 max=${4:-3}
	n=$((n + 1))
	local newv="canary-f$n-c07a"
	admin POST /admin/secret "{\"name\":\"web/pw\",\"string\":\"$newv\"}" >/dev/null
	admin POST /admin/reset-log >/dev/null
	audit_mark=$(wc -l <"$AUDIT")
	admin POST /admin/fault "$fault" >/dev/null
	ctl rotate demo >/dev/null
	wait_for "$name audited" 10 audited "$reason"
	degraded || fail "$name: status not degraded"
	for _ in 1 2 3 4 5; do
		ctl rotate demo >/dev/null
		sleep 0.5
	done
	has_value demo pw "$prev" || fail "$name: last good file not kept ($(secret_of demo pw))"
	local reqs
	reqs=$(count 'secretsmanager.GetSecretValue web/pw')
	((reqs <= max)) || fail "$name: $reqs requests for 6 rotations (no backoff)"
	kill -0 "$BROKER_PID" || fail "$name: broker exited"
	new_audit | grep '"event":"fetch_failed","target":"demo"' | head -n1 | grep -q '"source":"sm:web/pw"' || fail "$name: no fetch_failed naming the source"
	admin POST /admin/clear-faults >/dev/null
	wait_for "recovery after $name" 30 recovered "$newv"
	prev=$newv
	pass "$name: audited, last good file kept, $reqs request(s) for 6 rotations, recovered"
}
F_WEB='"target":"secretsmanager.GetSecretValue","name":"web/pw","count":1000'
fault_round "ThrottlingException" "{$F_WEB,\"status\":400,\"type\":\"ThrottlingException\"}" "ThrottlingException: Rate exceeded"
admin GET /admin/requests | python3 -c '
import json,sys
ts=[e["t"] for e in json.load(sys.stdin)["log"] if e.get("type")=="ThrottlingException"]
gaps=[b-a for a,b in zip(ts,ts[1:])]
assert all(g >= 0.8 for g in gaps), gaps
' || fail "throttled requests were not spaced by the backoff"
fault_round "InternalServiceError" "{$F_WEB,\"status\":500,\"type\":\"InternalServiceError\"}" "InternalServiceError"
fault_round "malformed reply" "{$F_WEB,\"malformed\":true}" "malformed JSON"

ctl --json status | grep -q '"health": *"ok"' || fail "status after recovery: $(cat "$T/ctl.stdout")"
stop_broker
assert_aws_canary canary-sk-c07a canary-wrongsk-c07a canary-f0-c07a canary-f1-c07a canary-f3-c07a canary-sig-c07a
pass "no canary in logs, audit, state or ctl output"

#!/usr/bin/env bash
# Vault store faults: 500, 429 + Retry-After, sealed 503, malformed and oversized replies,
# a dropped connection, a slow reply, connection refused and a TLS failure. Each one: an
# audit event naming store, path and reason, the last good file stays, the store backs off
# (no spin), status says degraded, the broker keeps serving, and it recovers afterwards.
# FAULT_SET=http (default): TLS, 500, 429, sealed, malformed, oversized;
# FAULT_SET=net (vault_faults_net.sh): dropped connection, slow reply, connection refused.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

SEED='{
  "mounts": {"secret/": {"type": "kv", "version": 2, "secrets": {"web": {"password": "canary-f0-3b9e"}}}},
  "policies": {"web": ["secret/data/*"]},
  "tokens": {"tok-canary-3b9e": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
start_double "$SEED"
"$SERVERS/make_ca.sh" "$F/tls2" >/dev/null 2>&1 || fail "make_ca.sh (second CA)"
printf 'tok-canary-3b9e\n' >"$F/token"
cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "vault": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
               "auth": {"method": "token", "token_file": "$F/token"} },
    "wrongca": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls2/ca.crt",
               "auth": {"method": "token", "token_file": "$F/token"} }
  },
  "bindings": {
    "web": { "secrets": { "pw": "vault:secret/web#password" }, "refresh": "1h", "grace": "1s", "size": "64k" },
    "tls": { "secrets": { "pw": "wrongca:secret/web#password" }, "refresh": "1h", "grace": "1s", "size": "64k" }
  },
  "targets": { "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
               "tlsdemo": { "binding": "tls", "uid": 1000, "gid": 1000 } }
}
JSON
AUDIT=$T/state/audit.jsonl
start_broker
wait_for "first value" 10 has_value demo pw canary-f0-3b9e

# TLS failure: the store with the wrong CA never connects, names itself, and nothing is published.
wait_for "TLS failure audited" 10 grep -q '"store":"wrongca".*"reason":"[^"]*\(SSL\|certificate\)' "$AUDIT"
grep -m1 '"event":"fetch_failed".*"target":"tlsdemo"' "$AUDIT" | grep -q 'wrongca' || fail "fetch_failed for tlsdemo does not name the store"
[[ ! -e $T/run/t/tlsdemo/pw ]] || fail "tlsdemo published without a verified server"
pass "TLS verification failure: audited with store and reason, nothing published"

prev=canary-f0-3b9e
n=0
# The audit since audit_mark, as a file: a pipe into a reader that stops early (grep -q,
# grep -m1) would kill tail with SIGPIPE and, under pipefail, fail the check.
new_audit() { tail -n +"$((audit_mark + 1))" "$AUDIT" >"$F/new.audit"; }
audited() { new_audit && grep -q "\"store\":\"vault\",\"path\":\"secret/data/web\",\"reason\":\".*$1" "$F/new.audit"; }
degraded() { ctl --json status | grep -q '"health": *"degraded"'; }
web_reads() { count secret/data/web; }
# The broker's own per-target retry backs off up to 60 s; a rotate asks again now (the
# store still refuses until its own backoff has passed).
recovered() { # VALUE
	has_value demo pw "$1" && return 0
	ctl rotate demo >/dev/null
	sleep 0.5
	has_value demo pw "$1"
}
fault_round() { # NAME FAULT_JSON REASON_REGEX [MAX_REQUESTS] [once]
	local name=$1 fault=$2 reason=$3 max=${4:-6} once=${5:-}
	n=$((n + 1))
	local newv="canary-f$n-3b9e"
	admin POST /admin/kv "{\"path\":\"secret/web\",\"data\":{\"password\":\"$newv\"}}" >/dev/null
	admin POST /admin/reset-log >/dev/null
	audit_mark=$(wc -l <"$AUDIT")
	[[ $fault == seal ]] && admin POST /admin/seal >/dev/null || admin POST /admin/fault "$fault" >/dev/null
	ctl rotate demo >/dev/null
	wait_for "$name audited" 20 audited "$reason"
	if [[ -z $once ]]; then
		degraded || fail "$name: status not degraded"
		sleep 2
	fi
	has_value demo pw "$prev" || [[ -n $once ]] || fail "$name: last good file not kept ($(secret_of demo pw))"
	local reqs
	reqs=$(web_reads)
	((reqs <= max)) || fail "$name: $reqs requests in ~2 s (spinning)"
	kill -0 "$BROKER_PID" || fail "$name: broker exited"
	new_audit
	grep -m1 '"event":"fetch_failed","target":"demo"' "$F/new.audit" | grep -q '"source":"vault:secret/web"' || fail "$name: no fetch_failed naming the source"
	admin POST /admin/clear-faults >/dev/null
	admin POST /admin/unseal >/dev/null
	wait_for "recovery after $name" 20 recovered "$newv"
	prev=$newv
	pass "$name: audited, last good file kept, $reqs request(s) in ~2 s, recovered"
}

F_WEB='"path":"secret/data/web","count":1000'
if [[ ${FAULT_SET:-http} == http ]]; then
fault_round "500" "{$F_WEB,\"status\":500}" "internal error"
fault_round "429" "{$F_WEB,\"status\":429,\"retry_after\":3}" "rate limit quota exceeded" 2
admin GET /admin/requests | python3 -c '
import json,sys
ts=[r["t"] for r in json.load(sys.stdin)["log"] if r["path"]=="secret/data/web" and r["status"]==429]
assert all(b-a >= 2.8 for a,b in zip(ts,ts[1:])), ts
' || fail "Retry-After not honoured"
fault_round "sealed" seal "Vault is sealed"
fault_round "malformed" "{$F_WEB,\"malformed\":true}" "malformed JSON"
fault_round "oversized" "{$F_WEB,\"oversize\":3000000}" "larger than"
else
fault_round "dropped" "{$F_WEB,\"drop\":true}" "."
# One slow reply (past the 10 s request timeout): the retry after it may already succeed.
fault_round "slow" "{\"path\":\"secret/data/web\",\"count\":1,\"delay\":12}" "timed out" 6 once

# Connection refused: the double goes away, then comes back on the same port.
n=$((n + 1))
audit_mark=$(wc -l <"$AUDIT")
stop_double
ctl rotate demo >/dev/null
wait_for "connection refused audited" 15 audited "\\(onnect\\|refused\\)"
has_value demo pw "$prev" || fail "connection refused: last good file not kept"
DOUBLE_PORT=$VPORT start_double "$SEED"
admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-back-3b9e"}}' >/dev/null
wait_for "recovery after connection refused" 20 recovered canary-back-3b9e
pass "connection refused: audited, last good file kept, recovered"
fi

ctl --json status | grep -q '"health": *"ok"' || fail "status after recovery: $(cat "$T/ctl.stdout")"
stop_broker
assert_vault_canary tok-canary-3b9e canary-f0-3b9e canary-f1-3b9e canary-f4-3b9e canary-back-3b9e
pass "no canary in logs or state"

#!/usr/bin/env bash
# azure-kv store faults, for a certificate store and a managed-identity store side by side:
# 429 throttling with backoff (Retry-After honoured, last good files kept, Throttled named),
# recovery once it ends.
source "$(dirname "$0")/azure_lib.sh" "$1"
need_root

azure_two_stores_up 600

admin POST /admin/fault '{"where": "secrets", "status": 429, "retry_after": 3, "count": 1000}' >/dev/null
admin POST /admin/secret '{"name": "db", "value": "canary-db-v3-a07c"}' >/dev/null
admin POST /admin/reset-counts >/dev/null
sleep 4
faults=$(count fault)
((faults >= 1)) || fail "no throttled request"
# Two stores, 1 s refresh, Retry-After 3: at most two bursts each (16+ without backoff).
((faults <= 8)) || fail "no backoff: $faults throttled requests in 4 s"
assert_eq "$(secret_of demo db)" "canary-db-v1-a07c" "last good file while throttled"
grep -q 'Throttled' "$T/state/audit.jsonl" || fail "Throttled not named in the audit"
admin POST /admin/clear-faults >/dev/null
wait_for "recovery" 20 has_value demo db canary-db-v3-a07c
wait_for "recovery" 10 has_value demo mi_db canary-db-v3-a07c
pass "429: $faults requests in 4 s, Retry-After honoured, last good files kept, recovery"

stop_broker
assert_azure_canary canary-db-v1-a07c canary-db-v1-a07c canary-db-v3-a07c canary-api-a07c \
	eyJ0eXAiOiJKV1Qi.double PRIVATE
pass "no canary, key or token in logs, audit or state"

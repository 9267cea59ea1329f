#!/usr/bin/env bash
# gcp-sm store faults: 429 throttling with a store-wide backoff (few requests, last good
# files kept, the error named), a corrupted payload (dataCrc32c mismatch) refused, recovery
# once the faults end. (Token from the metadata server.)
source "$(dirname "$0")/gcp_lib.sh" "$1"
need_root

gcp_metadata_up 600
# 429 for every read: the store backs off for all three secrets together.
admin POST /admin/fault '{"where": "access", "status": 429, "count": 1000}' >/dev/null
admin POST /admin/secret '{"name": "b", "data": "canary-b2-0be4"}' >/dev/null
admin POST /admin/reset-counts >/dev/null
sleep 5
faults=$(count fault)
((faults >= 1)) || fail "no throttled request"
((faults <= 7)) || fail "no backoff: $faults throttled requests in 5 s (3 secrets, 1 s refresh: 15 without)"
assert_eq "$(secret_of demo b)" "canary-b1-0be4" "last good file while throttled"
grep -q 'RESOURCE_EXHAUSTED' "$T/state/audit.jsonl" || fail "throttling not named in the audit"
ctl --json status | grep -q '"health": *"degraded"' || fail "status not degraded while throttled"
admin POST /admin/clear-faults >/dev/null
wait_for "recovery after throttling" 20 has_value demo b canary-b2-0be4
pass "429: $faults requests in 5 s, last good files kept, recovery"

# A corrupted payload is refused (dataCrc32c), the old file stays, the next read is good.
admin POST /admin/fault '{"where": "access", "corrupt_crc": true, "count": 1}' >/dev/null
admin POST /admin/secret '{"name": "c", "data": "canary-c2-0be4"}' >/dev/null
wait_for "checksum error in the audit" 10 grep -q 'checksum mismatch' "$T/state/audit.jsonl"
wait_for "value after the corrupted read" 10 has_value demo c canary-c2-0be4
pass "dataCrc32c mismatch refused, then recovered"

stop_broker
assert_gcp_canary canary-a1-0be4 canary-a2-0be4 canary-b1-0be4 canary-b2-0be4 canary-c1-0be4 \
	canary-c2-0be4 ya29.double
pass "no canary or token in logs, audit or state"

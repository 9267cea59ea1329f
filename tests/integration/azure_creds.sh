#!/usr/bin/env bash
# azure-kv store: client certificate (RS256 assertion with x5t, checked by the double) and
# managed identity through IMDS (AZURE_IMDS_ENDPOINT; expires_in as a string), side by side;
# short-lived tokens (3 s, replaced after 2 s) refreshed before expiry; revoked tokens -> 401
# -> new token -> replay.
source "$(dirname "$0")/azure_lib.sh" "$1"
need_root

azure_two_stores_up 3

# 3 s tokens: a third of each within ~6 s; the wait's bound is for a loaded host (a fixed
# 5 s sleep saw 2 in a fresh Debian run), the expired-token count below is the real check.
three_tokens() { (($(count token_cert) >= 3 && $(count imds_ok) >= 3)); }
wait_for "three tokens of each store" 30 three_tokens
assert_eq "$(count expired_token_used)" "0" "requests with an expired token"
pass "tokens refreshed before expiry (cert $(count token_cert), imds $(count imds_ok))"

# Long-lived tokens first, so that the revoked ones are still in use at the next read.
# (Counted before the change; after 4 s every 3 s token has been replaced by a 60 s one.)
c0=$(count token_cert) i0=$(count imds_ok)
admin POST /admin/token-ttl '{"ttl": 60}' >/dev/null
more_tokens() { (($(count token_cert) > c0 && $(count imds_ok) > i0)); }
sleep 4
wait_for "long-lived tokens" 20 more_tokens
admin POST /admin/revoke-tokens >/dev/null
admin POST /admin/secret '{"name": "db", "value": "canary-db-v2-a07c"}' >/dev/null
wait_for "value after revoked tokens" 10 has_value demo db canary-db-v2-a07c
wait_for "value after revoked tokens" 10 has_value demo mi_db canary-db-v2-a07c
(($(count unauthorized) >= 1)) || fail "no 401 after revoking tokens"
pass "401 -> new token -> replay, for both credentials"

stop_broker
assert_azure_canary canary-db-v1-a07c canary-db-v2-a07c canary-db-v3-a07c canary-api-a07c \
	eyJ0eXAiOiJKV1Qi.double PRIVATE
pass "no canary, key or token in logs, audit or state"

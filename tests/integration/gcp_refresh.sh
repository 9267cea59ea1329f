#!/usr/bin/env bash
# gcp-sm store, metadata-server token (GCE_METADATA_HOST): short-lived tokens refreshed before
# they expire, a revoked token replaced after a 401 and the read replayed.
source "$(dirname "$0")/gcp_lib.sh" "$1"
need_root

gcp_metadata_up 4

# Tokens live 4 s and are replaced 1 s early: over 7 s of 1 s refreshes, new tokens
# arrive and no expired token is ever presented.
# (Waited for, not slept: a fixed sleep counted too few on a loaded fresh machine for azure.)
three_tokens() { (($(count metadata) >= 3)); }
wait_for "three metadata tokens" 30 three_tokens
assert_eq "$(count expired_token_used)" "0" "requests with an expired token"
pass "short-lived tokens refreshed before expiry ($(count metadata) tokens)"

# A token the API stops taking: 401, a new token, the read replayed once. Long-lived tokens
# first, so that the revoked one is still in use when the next read goes out.
# (Counted before the change; after 5 s every 4 s token has been replaced by a 60 s one.)
m0=$(count metadata)
admin POST /admin/token-ttl '{"ttl": 60}' >/dev/null
more_tokens() { (($(count metadata) > m0)); }
sleep 5
wait_for "a long-lived token" 20 more_tokens
# Counted before the revocation: a refresh right after it fetches the new token at once.
m0=$(count metadata)
admin POST /admin/revoke-tokens >/dev/null
admin POST /admin/secret '{"name": "a", "data": "canary-a2-0be4"}' >/dev/null
wait_for "value after a revoked token" 10 has_value demo a canary-a2-0be4
(($(count unauthenticated) >= 1)) || fail "no 401 seen after revoking tokens"
(($(count metadata) > m0)) || fail "no new token after a 401"
pass "401 -> new token -> replay"

stop_broker
assert_gcp_canary canary-a1-0be4 canary-a2-0be4 canary-b1-0be4 canary-b2-0be4 canary-c1-0be4 \
	canary-c2-0be4 ya29.double
pass "no canary or token in logs, audit or state"

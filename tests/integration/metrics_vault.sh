#!/usr/bin/env bash
# Issue 18: the network-store counters reach /metrics from where the stores run (the
# privilege-separated worker relays its registry to root, issue 15): store requests by
# outcome and their latency, logins, coalesced KV reads (three targets, one read), lease
# renewals and revocations, the store's health, a restart of the worker; the text passes
# promtool; no secret, path or lease id in it.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {
    "secret/": {"type": "kv", "version": 2, "secrets": {"web": {"pw": "canary-mv-1"}}},
    "database/": {"type": "database", "roles": {
        "web": {"default_ttl": 3, "max_ttl": 600, "renewable": true}}}
  },
  "policies": {"web": ["secret/data/web", "database/creds/*", "sys/leases/revoke"]},
  "tokens": {"tok-canary-mv": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-mv\n' >"$F/token"
vault_config '{"method": "token", "token_file": "'"$F"'/token"}' '{
  "kv": { "secrets": { "pw": "vault:secret/web#pw" }, "refresh": "1h", "size": "64k" },
  "db": { "secrets": { "user": "vault:database/creds/web#username" }, "refresh": "1h", "grace": "1s", "size": "64k" } }' \
	'{ "k1": {"binding": "kv"}, "k2": {"binding": "kv"}, "k3": {"binding": "kv"}, "d1": {"binding": "db"} }'
start_broker
for n in k1 k2 k3; do wait_for "kv secret in $n" 10 has_value "$n" pw canary-mv-1; done
wait_for "lease creds in d1" 10 test -s "$T/run/t/d1/user"

m() { ctl metrics >"$T/m.txt" && cat "$T/m.txt"; }
val() { # SERIES -> its value (0 when absent)
	m | awk -v s="$1" 'index($0, s " ") == 1 { print $2; found = 1 } END { if (!found) print 0 }'
}
ge() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$(val "$1")" "$2"; }

api='store="vault",type="vault",request="api"'
wait_for "store requests counted" 10 ge "lockbox_store_requests_total{$api,outcome=\"ok\"}" 2
ge "lockbox_store_request_duration_seconds_count{$api}" 2 || fail "no latency histogram: $(cat "$T/m.txt")"
ge 'lockbox_logins_total{store="vault",outcome="ok"}' 1 || fail "no login counted: $(grep logins "$T/m.txt")"
assert_eq "$(val 'lockbox_store_up{store="vault",type="vault"}')" 1 "lockbox_store_up of vault"
reads=$(count secret/data/web)
assert_eq "$reads" 1 "KV reads for three targets"
ge 'lockbox_store_reads_coalesced_total{store="vault"}' 2 || fail "coalesced reads: $(grep coalesced "$T/m.txt")"
pass "store requests ($(val "lockbox_store_requests_total{$api,outcome=\"ok\"}") ok), latency, login, health, coalesced reads ($(val 'lockbox_store_reads_coalesced_total{store="vault"}') saved) reach /metrics"

wait_for "a lease renewal" 15 ge 'lockbox_lease_renewals_total{store="vault",outcome="ok"}' 1
# d1 goes: its lease is revoked.
vault_config '{"method": "token", "token_file": "'"$F"'/token"}' '{
  "kv": { "secrets": { "pw": "vault:secret/web#pw" }, "refresh": "1h", "size": "64k" } }' \
	'{ "k1": {"binding": "kv"}, "k2": {"binding": "kv"}, "k3": {"binding": "kv"} }'
ctl reload >/dev/null || fail "reload"
wait_for "a lease revocation" 15 ge 'lockbox_lease_revocations_total{store="vault",outcome="ok"}' 1
pass "lease renewals ($(val 'lockbox_lease_renewals_total{store="vault",outcome="ok"}')) and revocations counted"

# The worker is killed: root counts its restart.
worker_pid() { ctl --json status | jget 'j["worker"]["pid"]'; }
worker_new() { p=$(worker_pid) && [[ $p != "$1" && $p != 0 && $(ctl --json status | jget 'j["worker"]["state"]') == up ]]; }
w=$(worker_pid)
[[ $w =~ ^[0-9]+$ && $w != 0 ]] || fail "no worker pid in status: $(cat "$T/ctl.stdout")"
kill -KILL "$w"
wait_for "a new worker" 20 worker_new "$w"
wait_for "the restart counted" 10 ge 'lockbox_worker_restarts_total' 1
pass "worker restart counted: lockbox_worker_restarts_total $(val lockbox_worker_restarts_total)"

if command -v promtool >/dev/null; then
	promtool check metrics <"$T/m.txt" || fail "promtool check metrics"
fi
for bad in canary-mv tok-canary database/creds secret/data lease_id; do
	grep -qF -- "$bad" "$T/m.txt" && fail "\"$bad\" in /metrics"
done
assert_vault_canary canary-mv-1 tok-canary-mv
stop_broker
pass "done: no secret, token, path or lease id in /metrics"

#!/usr/bin/env bash
# Vault store, leased secrets (database/creds): one lease per target, both fields from the
# same lease, renewals with unchanged files, new credentials at max TTL, revocation when a
# target goes (SIGHUP, lockboxctl reload, and after a restart), restart renews, never
# re-issues; lease ids in state_dir, never values.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {
    "database/": {"type": "database", "roles": {
        "web":   {"default_ttl": 8, "max_ttl": 600, "renewable": true, "fields": {"extra": "canary-extra-77d1"}},
        "short": {"default_ttl": 3, "max_ttl": 7, "renewable": true}}}
  },
  "policies": {"web": ["database/creds/*", "sys/leases/revoke"]},
  "tokens": {"tok-canary-77d1": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-77d1\n' >"$F/token"
AUTH='{"method": "token", "token_file": "'"$F"'/token"}'
BINDINGS='{
  "db": { "secrets": { "user": "vault:database/creds/web#username",
                       "pass": "vault:database/creds/web#password" },
          "refresh": "1h", "grace": "1s", "size": "64k" },
  "short": { "secrets": { "user": "vault:database/creds/short#username" },
             "refresh": "1s", "grace": "1s", "size": "64k" } }'
t() { echo "\"$1\": {\"binding\": \"${2:-db}\", \"uid\": 1000, \"gid\": 1000}"; }
config_with() { # target entries...
	local IFS=,
	vault_config "$AUTH" "$BINDINGS" "{ $* }"
}
leases() { admin GET /admin/leases; }
live_for() { # PATH -> count of live leases
	leases | python3 -c 'import json,sys; print(sum(1 for l in json.load(sys.stdin)["live"] if l["path"]==sys.argv[1]))' "$1"
}
lease_of() { # TARGET: the lease id the broker holds for it
	python3 -c '
import json,sys
for l in json.load(open(sys.argv[1]))["leases"]:
    if l["target"]==sys.argv[2] and not l["retiring"]: print(l["lease_id"])' "$T/state/worker/vault-vault.json" "$1"
}
revoked() { # LEASE_ID
	leases | python3 -c 'import json,sys; sys.exit(0 if any(l["lease_id"]==sys.argv[1] and l["reason"]=="revoked" for l in json.load(sys.stdin)["revoked"]) else 1)' "$1"
}
renewals_of() { # LEASE_ID
	leases | python3 -c 'import json,sys; print(([l["renewals"] for l in json.load(sys.stdin)["live"] if l["lease_id"]==sys.argv[1]] or [-1])[0])' "$1"
}
renewed_more() { (($(renewals_of "$1") > $2)); } # LEASE_ID N

config_with "$(t d1)" "$(t d2)" "$(t d3)"
start_broker
for n in d1 d2 d3; do wait_for "creds in $n" 10 test -s "$T/run/t/$n/pass"; done
assert_eq "$(count database/creds/web)" "3" "reads of database/creds/web for 3 targets x 2 fields"
assert_eq "$(live_for database/creds/web)" "3" "live leases"
u1=$(secret_of d1 user) u2=$(secret_of d2 user)
[[ $u1 != "$u2" ]] || fail "targets share a lease"
wait_for "state file" 5 test -s "$T/state/worker/vault-vault.json"
l1=$(lease_of d1) l2=$(lease_of d2) l3=$(lease_of d3)
[[ -n $l1 && -n $l2 && -n $l3 ]] || fail "lease ids not persisted: $(cat "$T/state/worker/vault-vault.json")"
assert_eq "$(stat -c %a "$T/state/worker/vault-vault.json")" "600" "state file mode"
pass "one lease per target (both fields from it), ids persisted 0600"

wait_for "renewal of d1's lease" 15 renewed_more "$l1" 1
assert_eq "$(secret_of d1 user)" "$u1" "d1 username after renewals"
assert_eq "$(count database/creds/web)" "3" "reads after renewals"
grep -q '"event":"lease_renewed"' "$T/state/audit.jsonl" || fail "no lease_renewed audit"
pass "renewals observed at the double, files unchanged, no re-issue"

# SIGHUP without d3: its lease is revoked.
config_with "$(t d1)" "$(t d2)"
kill -HUP "$BROKER_PID"
wait_for "revocation of d3's lease (SIGHUP)" 10 revoked "$l3"
# lockboxctl reload without d2.
config_with "$(t d1)"
ctl reload >/dev/null
wait_for "revocation of d2's lease (reload)" 10 revoked "$l2"
revoked "$l1" && fail "d1's lease revoked"
pass "revoke on target removal (SIGHUP and lockboxctl reload)"

# Restart: d1's lease is renewed, not re-issued.
config_with "$(t d1)" "$(t d4)"
stop_broker
r=$(renewals_of "$l1")
admin POST /admin/reset-log >/dev/null
start_broker
wait_for "renewal of d1's lease after restart" 10 renewed_more "$l1" "$r"
wait_for "d4 creds" 10 test -s "$T/run/t/d4/pass"
assert_eq "$(count database/creds/web)" "1" "reads after restart (d4 only, d1 keeps its lease)"
assert_eq "$(secret_of d1 user)" "$u1" "d1 username after restart"
l4=$(lease_of d4)
# Restart without d4: its lease is revoked when the stale target is removed.
config_with "$(t d1)"
stop_broker
start_broker
wait_for "revocation of d4's lease after restart" 10 revoked "$l4"
wait_for "d4 tmpfs removed" 5 test ! -e "$T/run/t/d4"
pass "restart renews held leases and revokes the leases of removed targets"

# Max TTL: renewals get capped, then the target gets new credentials before expiry.
config_with "$(t d1)" "$(t s1 short)"
ctl reload >/dev/null
wait_for "short creds" 10 test -s "$T/run/t/s1/user"
su1=$(secret_of s1 user)
wait_for "new credentials at max TTL" 15 bash -c "[[ \$(cat '$T/run/t/s1/user') != '$su1' ]]"
python3 -c '
import json,sys,time
m=json.load(open(sys.argv[1]))
na=m["secrets"]["user"]["not_after"]
assert na > time.time(), m' "$T/run/t/s1/..data/.manifest.json" || fail "manifest not_after of the new lease"
grep -q 'max TTL' "$T/lockboxd.log" || fail "cap not logged"
pass "capped lease: new credentials before expiry"

stop_broker
grep -q 'password\|canary' "$T/state/worker/vault-vault.json" && fail "secret bytes in state file"
u=$(secret_of d1 pass)
assert_vault_canary tok-canary-77d1 canary-extra-77d1 "$u"
pass "no canary in logs or state"

#!/usr/bin/env bash
# Vault store: leases live no longer than the token they were taken with (issue 17). Vault
# revokes a token's leases when the token reaches its max TTL or is revoked; after a new
# login the target must already hold a lease of the new token. A reader checks, every
# 100 ms for 40 s, that the lease the target's manifest names is live at the double (which
# revokes a token's leases at its expiry), over several token lifetimes (TTL 6 s, max 15 s,
# 30 s leases); then a revoked token: after the "invalid token" re-login the target gets a
# lease of the new token at once, not at the old lease's next renewal.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root
READ_S=${VAULT_RELOGIN_READ_S:-40}

start_double '{
  "mounts": {"database/": {"type": "database", "roles": {
      "web": {"default_ttl": 30, "max_ttl": 600, "renewable": true}}}},
  "policies": {"web": ["database/creds/*", "sys/leases/revoke"]},
  "approle": {"mount": "approle", "roles": {"web": {
      "role_id": "role-canary-4b8e", "secret_ids": ["sid-canary-4b8e"], "token_policies": ["web"],
      "token_ttl": 6, "token_max_ttl": 15}}}
}'
printf 'role-canary-4b8e' >"$F/role_id"
printf 'sid-canary-4b8e' >"$F/secret_id"
vault_config '{"method": "approle", "role_id_file": "'"$F"'/role_id", "secret_id_file": "'"$F"'/secret_id"}' '{
  "db": { "secrets": { "user": "vault:database/creds/web#username",
                       "pass": "vault:database/creds/web#password" },
          "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "d1": {"binding": "db", "uid": 1000, "gid": 1000} }'
start_broker
wait_for "creds in d1" 15 test -s "$T/run/t/d1/pass"

# reader SECONDS: every 100 ms, the lease id d1's manifest names must be live at the double
# (read the manifest, the double's live leases, the manifest again: a generation published
# meanwhile is not judged). Prints "checks violations seconds_bad distinct_leases".
reader() {
	python3 - "$1" "$APORT" "$T/run/t/d1/..data/.manifest.json" <<'PY'
import json, sys, time, urllib.request
secs, aport, manifest = float(sys.argv[1]), sys.argv[2], sys.argv[3]
def served():
    try:
        with open(manifest) as fh:
            return json.load(fh)["secrets"]["user"]["version"]
    except (OSError, ValueError, KeyError):
        return None
def live():
    with urllib.request.urlopen(f"http://127.0.0.1:{aport}/admin/leases", timeout=5) as r:
        return [l["lease_id"] for l in json.load(r)["live"]]
checks = bad = 0
seen, bad_at = set(), []
end = time.time() + secs
while time.time() < end:
    a = served(); ids = live(); b = served()
    if a and a == b:
        checks += 1
        seen.add(a)
        if not any(a == "lease-" + i[-24:] for i in ids):
            bad += 1
            bad_at.append(round(time.time(), 1))
    time.sleep(0.1)
if bad_at:
    sys.stderr.write(f"served a revoked lease at {bad_at[:20]}\n")
print(checks, bad, len(seen))
PY
}
logins0=$(count auth/approle/login)
read -r checks bad distinct < <(reader "$READ_S")
logins=$(($(count auth/approle/login) - logins0))
echo "# reader: $checks checks, $bad with a revoked lease, $distinct leases served, $logins logins in ${READ_S}s"
((checks > READ_S * 3)) || fail "reader made only $checks checks"
((logins >= 2)) || fail "only $logins logins in ${READ_S}s with a 15 s token max TTL"
((distinct >= logins)) || fail "$distinct leases served over $logins logins: leases not replaced at re-login"
assert_eq "$bad" "0" "checks that found d1 on a revoked lease"
admin GET /admin/leases | python3 -c '
import json,sys
r=[l for l in json.load(sys.stdin)["revoked"] if l["reason"]=="token expired"]
assert r, "no lease was revoked with an expired token"' || fail "the double revoked no lease at token expiry"
pass "token max TTL: the target's lease is replaced before its token ends ($checks checks, $distinct leases, $logins logins)"

# A revoked token: its leases go with it; the next request meets "invalid token", the store
# logs in again and d1 gets a lease of the new token at once.
served() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secrets"]["user"]["version"])' "$T/run/t/d1/..data/.manifest.json"; }
live() { # VERSION: the double holds that lease live
	admin GET /admin/leases | python3 -c '
import json,sys
sys.exit(0 if any(sys.argv[1]=="lease-"+l["lease_id"][-24:] for l in json.load(sys.stdin)["live"]) else 1)' "$1"
}
served_live() { live "$(served)"; }
wait_for "d1 on a live lease" 10 served_live
# The lease served now, and every token listed after it (its own among them: a re-login in
# between gives a token listed too, and a lease the check below does not look at).
before=$(served)
admin GET /admin/tokens | python3 -c '
import json,sys,time
for t in json.load(sys.stdin)["tokens"]:
    if not t["revoked"] and t["source"].startswith("approle"): print(t["accessor"])' >"$F/accessors"
while read -r acc; do admin POST /admin/revoke-token "{\"accessor\":\"$acc\"}" >/dev/null; done <"$F/accessors"
t0=$SECONDS
live "$before" && fail "the double kept the revoked token's lease $before"
# The token's next renewal (at most 2/3 of its 6 s TTL away) meets "invalid token".
wait_for "d1 on a lease of the new token" 15 served_live
echo "# d1 held a revoked lease for $((SECONDS - t0)) s after the token's revocation"
pass "revoked token: re-login, then a new lease for the target at once"

stop_broker
assert_vault_canary role-canary-4b8e sid-canary-4b8e "$(secret_of d1 pass)"
pass "no canary in logs or state"

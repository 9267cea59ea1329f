#!/usr/bin/env bash
# Vault store, leases driving their targets (binding refresh 1h, so nothing here waits for
# it): a lease held across a broker restart keeps its file and lease id with no fetch_failed
# event, and its renewal moves the manifest's not_after; a short lease (ttl 6s, max_ttl 12s)
# is renewed (not_after follows), then rotates to new credentials before it expires.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {
    "database/": {"type": "database", "roles": {
        "web":   {"default_ttl": 20, "max_ttl": 600, "renewable": true},
        "short": {"default_ttl": 6, "max_ttl": 12, "renewable": true}}}
  },
  "policies": {"web": ["database/creds/*", "sys/leases/revoke"]},
  "tokens": {"tok-canary-3e9a": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-3e9a\n' >"$F/token"
vault_config '{"method": "token", "token_file": "'"$F"'/token"}' '{
  "db":    { "secrets": { "user": "vault:database/creds/web#username",
                          "pass": "vault:database/creds/web#password" },
             "refresh": "1h", "grace": "1s", "size": "64k" },
  "short": { "secrets": { "user": "vault:database/creds/short#username" },
             "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "d1": {"binding": "db", "uid": 1000, "gid": 1000} }'

lease_of() { # TARGET: the lease id the broker holds for it (state file)
	python3 -c '
import json,sys
for l in json.load(open(sys.argv[1]))["leases"]:
    if l["target"]==sys.argv[2] and not l["retiring"]: print(l["lease_id"])' "$T/state/worker/vault-vault.json" "$1"
}
renewals_of() { # LEASE_ID
	admin GET /admin/leases | python3 -c 'import json,sys; print(([l["renewals"] for l in json.load(sys.stdin)["live"] if l["lease_id"]==sys.argv[1]] or [-1])[0])' "$1"
}
renewed_more() { (($(renewals_of "$1") > $2)); } # LEASE_ID N
not_after() { # TARGET NAME: the manifest's not_after (0 when absent)
	python3 -c '
import json,sys
m=json.load(open(sys.argv[1]))
print(m["secrets"].get(sys.argv[2], {}).get("not_after") or 0)' "$T/run/t/$1/..data/.manifest.json" "$2"
}
not_after_above() { (($(not_after "$1" "$2") > $3)); } # TARGET NAME N
ino_of() { stat -c %i "$T/run/t/$1/..data/$2"; }
fetch_failed_after() { # LINE: fetch_failed events in the audit log after that line
	tail -n +"$(($1 + 1))" "$T/state/audit.jsonl" | grep -c '"event":"fetch_failed"' || true
}

# --- a lease held across a restart
start_broker
wait_for "d1 creds" 10 test -s "$T/run/t/d1/pass"
wait_for "d1 lease id in the state file" 5 test -n "$(lease_of d1 2>/dev/null)"
l1=$(lease_of d1)
u1=$(secret_of d1 user) p1=$(secret_of d1 pass)
ino1=$(ino_of d1 pass)
na1=$(not_after d1 pass)
((na1 > $(date +%s))) || fail "d1 not_after $na1 is not in the future"
stop_broker
r=$(renewals_of "$l1")
((r >= 0)) || fail "d1's lease is not live at the double"
admin POST /admin/reset-log >/dev/null
audit_mark=$(wc -l <"$T/state/audit.jsonl")
sleep 1 # the renewal after the restart must give a later expiry
start_broker
wait_for "renewal of d1's lease after the restart" 10 renewed_more "$l1" "$r"
wait_for "d1 not_after following the renewal" 10 not_after_above d1 pass "$na1"
assert_eq "$(fetch_failed_after "$audit_mark")" "0" "fetch_failed events after the restart"
assert_eq "$(lease_of d1)" "$l1" "d1's lease id after the restart"
assert_eq "$(secret_of d1 user)" "$u1" "d1 user after the restart"
assert_eq "$(secret_of d1 pass)" "$p1" "d1 pass after the restart"
assert_eq "$(ino_of d1 pass)" "$ino1" "d1 pass file (inode) after the restart"
assert_eq "$(not_after d1 user)" "$(not_after d1 pass)" "not_after of both fields of one lease"
assert_eq "$(count database/creds/web)" "0" "reads of database/creds/web after the restart"
pass "restart: held lease renewed, same file and lease id, no fetch_failed, not_after moved"

# --- a short lease: renewed, capped at max_ttl, rotated before expiry by the store
vault_config '{"method": "token", "token_file": "'"$F"'/token"}' '{
  "db":    { "secrets": { "user": "vault:database/creds/web#username",
                          "pass": "vault:database/creds/web#password" },
             "refresh": "1h", "grace": "1s", "size": "64k" },
  "short": { "secrets": { "user": "vault:database/creds/short#username" },
             "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "d1": {"binding": "db", "uid": 1000, "gid": 1000},
  "s1": {"binding": "short", "uid": 1000, "gid": 1000} }'
audit_mark=$(wc -l <"$T/state/audit.jsonl")
# What s1's readers see, every 0.1 s: time, user, manifest (bash and cat only, so that a
# loaded machine still samples often). The checks read the record afterwards.
watch_s1() {
	local d
	while :; do
		d=$(readlink "$T/run/t/s1/..data" 2>/dev/null) &&
			printf '%s\t%s\t%s\n' "$EPOCHREALTIME" "$(cat "$T/run/t/s1/$d/user" 2>/dev/null)" \
				"$(tr -d '\n' <"$T/run/t/s1/$d/.manifest.json" 2>/dev/null)" >>"$F/s1.watch"
		sleep 0.1
	done
}
ctl reload >/dev/null
wait_for "s1 creds" 10 test -s "$T/run/t/s1/user"
watch_s1 &
WATCH_PID=$!
# shellcheck disable=SC2016 # run later by the exit trap, when WATCH_PID is set
vault_on_exit 'kill $WATCH_PID 2>/dev/null'
su1=$(secret_of s1 user)
wait_for "s1 lease id in the state file" 5 test -n "$(lease_of s1 2>/dev/null)"
ls1=$(lease_of s1)
# The first lease as the double issued it (its max expiry is fixed at issue time).
admin GET /admin/leases >"$F/leases1.json"
changed() { [[ $(secret_of s1 user) != "$su1" ]]; }
wait_for "s1 rotated to new credentials" 20 changed
sleep 0.3
kill $WATCH_PID
wait $WATCH_PID 2>/dev/null || true
admin GET /admin/leases >"$F/leases.json"
python3 - "$F/s1.watch" "$F/leases.json" "$ls1" "$su1" "$F/leases1.json" "$T/state/audit.jsonl" <<'PY' || fail "s1 rotation record: see above"
import json, sys
watch, leases, ls1, su1 = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
first_lease = [l for l in json.load(open(sys.argv[5]))["live"] if l["lease_id"] == ls1]
assert first_lease, "the first lease was not live at the double"
live = {l["lease_id"]: l for l in leases["live"]}
rows = []
for line in open(watch):
    t, user, man = line.rstrip("\n").split("\t", 2)
    try:
        na = json.loads(man)["secrets"]["user"].get("not_after") or 0
    except (ValueError, KeyError):
        continue
    rows.append((float(t), user, na))
first = [r for r in rows if r[1] == su1]
new = [r for r in rows if r[1] and r[1] != su1]
assert first and new, f"no samples before/after the rotation: {len(first)}/{len(new)}"
nas = sorted({r[2] for r in first})
print(f"s1 not_after with the first credentials: {nas}; after the rotation: {new[0][2]}")
assert len(nas) >= 2, f"not_after never moved while the first lease was renewed: {nas}"
max_expire = first_lease[0]["max_expire"]
renewed = [e for e in map(json.loads, open(sys.argv[6]))
           if e.get("event") == "lease_renewed" and e.get("lease_id") == ls1]
assert renewed, "the first lease was never renewed"
t_new = new[0][0]
print(f"rotated {max_expire - t_new:.1f}s before the first lease's max expiry")
assert t_new < max_expire, f"rotated at {t_new}, after the max expiry {max_expire}"
assert new[0][2] > t_new, f"new not_after {new[0][2]} not in the future at {t_new}"
issued = [l for l in live.values() if l["path"] == "database/creds/short" and l["lease_id"] != ls1]
assert len(issued) == 1 and issued[0]["issue"] < max_expire, issued
PY
assert_eq "$(fetch_failed_after "$audit_mark")" "0" "fetch_failed events around the rotation"
delivered=$(tail -n +"$((audit_mark + 1))" "$T/state/audit.jsonl" | grep '"event":"deliver","target":"s1"' || true)
[[ $delivered == *'"reason":"store"'* ]] || fail "no delivery to s1 asked by the store"
su2=$(secret_of s1 user)
pass "short lease: renewals moved not_after, new credentials before the max TTL (refresh 1h)"

stop_broker
grep -qF -e "$su1" -e "$su2" -e "$p1" "$T/state/worker/vault-vault.json" && fail "secret bytes in the state file"
assert_vault_canary tok-canary-3e9a "$p1"
pass "no canary in logs or state"

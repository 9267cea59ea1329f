#!/usr/bin/env bash
# Vault store, token auth: KV v2 (latest, #field, version pin, deleted/destroyed versions),
# KV v1, refresh with and without a new version, permission denied for one secret only;
# everything in a namespace (X-Vault-Namespace).
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "namespace": "team-a",
  "mounts": {
    "secret/": {"type": "kv", "version": 2, "secrets": {
        "web": [{"data": {"password": "canary-v1-9f3a"}},
                {"data": {"password": "canary-v2-9f3a"}, "deleted": true},
                {"data": {"password": "canary-v3-9f3a"}, "destroyed": true},
                {"data": {"password": "canary-v4-9f3a", "user": "webuser"}}],
        "one": {"k": "canary-one-9f3a"},
        "hidden": {"k": "canary-hidden-9f3a"}}},
    "kv1/": {"type": "kv", "version": 1, "secrets": {"app": {"key": "canary-kv1-9f3a"}}}
  },
  "policies": {"web": ["secret/data/web", "secret/data/one", "kv1/app"]},
  "tokens": {"tok-canary-9f3a": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-9f3a\n' >"$F/token"
vault_config '{"method": "token", "token_file": "'"$F"'/token"}' '{
  "web": { "secrets": {
      "pw":      "vault:secret/web#password",
      "user":    "vault:secret/web#user",
      "all":     "vault:secret/web",
      "one":     "vault:secret/one",
      "pinned":  "vault:secret/web#password?version=1",
      "kv1":     "vault:kv1/app#key"
    }, "refresh": "1h", "grace": "1s", "size": "256k" },
  "bad": { "secrets": {
      "pw":      "vault:secret/web#password",
      "deleted": "vault:secret/web#password?version=2",
      "destroyed": "vault:secret/web#password?version=3",
      "hidden":  "vault:secret/hidden#k"
    }, "refresh": "1h", "grace": "1s", "size": "256k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
  "other": { "binding": "bad", "uid": 1000, "gid": 1000 } }' '"namespace": "team-a"'

start_broker
d=$T/run/t/demo
wait_for "kv v2 secret" 10 has_value demo pw canary-v4-9f3a
assert_eq "$(secret_of demo user)" "webuser" "#user"
assert_eq "$(secret_of demo one)" "canary-one-9f3a" "one-field secret"
assert_eq "$(secret_of demo pinned)" "canary-v1-9f3a" "?version=1"
assert_eq "$(secret_of demo kv1)" "canary-kv1-9f3a" "kv v1"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j=={"password":"canary-v4-9f3a","user":"webuser"}, j' "$d/all" || fail "whole object"
wait_for "other target" 5 has_value other pw canary-v4-9f3a
for n in deleted destroyed hidden; do [[ ! -e $T/run/t/other/$n ]] || fail "$n must not be published"; done
pass "kv v2 latest, #field, one-field, whole object, ?version=1, kv v1"

audit=$T/state/audit.jsonl
wait_for "audit of deleted version" 5 grep -q '"secret": *"deleted".*version 2 is deleted' "$audit"
grep -q '"secret": *"destroyed".*version 3 is destroyed' "$audit" || fail "destroyed version not reported by name"
hidden=$(grep -m1 '"secret": *"hidden"' "$audit")
[[ $hidden == *"permission denied"* ]] || fail "permission denied not reported: $hidden"
[[ $hidden == *"secret/data/hidden"* ]] || fail "permission denied must name the path: $hidden"
pass "deleted/destroyed versions and permission denied reported for that secret only"

# Each path read once per refresh (target "other" keeps retrying its failed secrets, so
# count a path only "demo" reads); mounts looked up once per mount.
assert_eq "$(count secret/data/one)" "1" "reads of secret/data/one"
assert_eq "$(count kv1/app)" "1" "reads of kv1/app"
assert_eq "$(count sys/internal/ui/mounts/secret/one)" "0" "mount lookups for a second path of a known mount"
gen=$(generation_of demo)
admin POST /admin/reset-log >/dev/null
ctl rotate demo >/dev/null
one_read() { (($(count secret/data/one) >= 1)); }
wait_for "refresh read" 5 one_read
sleep 0.5
assert_eq "$(count secret/data/one)" "1" "reads of secret/data/one in one refresh"
assert_eq "$(generation_of demo)" "$gen" "generation after a refresh without a new version"
assert_eq "$(admin GET /admin/requests | jget 'sum(v for k,v in j["counts"].items() if k.startswith("sys/internal"))')" "0" "mount lookups on the second refresh"

admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-v5-9f3a","user":"webuser"}}' >/dev/null
admin POST /admin/kv '{"path":"kv1/app","data":{"key":"canary-kv1b-9f3a"}}' >/dev/null
ctl rotate demo >/dev/null
wait_for "new version" 5 has_value demo pw canary-v5-9f3a
wait_for "kv v1 change" 5 has_value demo kv1 canary-kv1b-9f3a
assert_eq "$(secret_of demo pinned)" "canary-v1-9f3a" "pinned version after a new version"
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["secrets"]["pw"]["version"]=="5", m' "$d/..data/.manifest.json" || fail "manifest version"
pass "refresh: unchanged costs no write, a new version publishes"

# Headers the double saw.
admin GET /admin/requests | python3 -c '
import json,sys
log=json.load(sys.stdin)["log"]
assert log, "no requests"
for r in log:
    assert r["x_vault_request"] in (True,"true"), r
    assert r["has_token"], r
    assert r["x_vault_namespace"] == "team-a", r
' || fail "X-Vault-Request / X-Vault-Token missing"
out=$(ctl --json status)
echo "$out" | grep -q '"health": *"ok"' || fail "status health: $out"
pass "headers and status"

stop_broker
assert_vault_canary canary-v1-9f3a canary-v4-9f3a canary-v5-9f3a canary-one-9f3a \
	canary-kv1-9f3a tok-canary-9f3a canary-hidden-9f3a
pass "no canary in logs or state"

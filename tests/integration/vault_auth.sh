#!/usr/bin/env bash
# Vault store auth: token, AppRole with a wrapped secret_id (unwrapped once), cert; a
# revoked token is replaced by a new login and the new value arrives; 100 targets sharing
# one KV secret cost one request per refresh.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root
NT=100

start_double '{
  "mounts": {
    "secret/": {"type": "kv", "version": 2, "secrets": {
        "web": {"password": "canary-web-51c7"},
        "shared": {"password": "canary-shared-51c7"}}}
  },
  "policies": {"web": ["secret/data/*"]},
  "tokens": {"tok-canary-51c7": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}},
  "approle": {"mount": "approle", "roles": {"web": {
      "role_id": "role-canary-51c7", "secret_ids": ["sid-canary-51c7"], "token_policies": ["web"],
      "token_ttl": 600, "token_max_ttl": 3600}}},
  "cert": {"mount": "cert", "certs": {"web": {
      "certificate_file": "'"$F"'/tls/client.crt", "token_policies": ["web"],
      "token_ttl": 600, "token_max_ttl": 3600}}},
  "wrapping_tokens": {"wrap-canary-51c7": {"data": {"secret_id": "sid-canary-51c7"}, "ttl": 300}}
}'
printf 'tok-canary-51c7\n' >"$F/token"
printf 'role-canary-51c7' >"$F/role_id"
printf 'wrap-canary-51c7\n' >"$F/secret_id"

targets=""
for i in $(seq 1 $NT); do targets+=", \"s$i\": {\"binding\": \"shared\", \"uid\": 1000, \"gid\": 1000}"; done
cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "vt": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
            "auth": {"method": "token", "token_file": "$F/token"} },
    "va": { "type": "vault", "address": "https://127.0.0.1:$VPORT/", "ca_file": "$F/tls/ca.crt",
            "auth": {"method": "approle", "role_id_file": "$F/role_id",
                     "secret_id_file": "$F/secret_id", "secret_id_wrapped": true} },
    "vc": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
            "client_cert": "$F/tls/client.crt", "client_key": "$F/tls/client.key",
            "auth": {"method": "cert", "name": "web"} }
  },
  "bindings": {
    "web": { "secrets": { "t": "vt:secret/web#password", "a": "va:secret/web#password",
                          "c": "vc:secret/web#password" },
             "refresh": "1h", "grace": "1s", "size": "64k" },
    "shared": { "secrets": { "pw": "vt:secret/shared#password" },
                "refresh": "1h", "grace": "1s", "size": "16k" }
  },
  "targets": { "demo": { "binding": "web", "uid": 1000, "gid": 1000 }$targets }
}
JSON
start_broker
for n in t a c; do wait_for "secret via $n" 15 has_value demo $n canary-web-51c7; done
assert_eq "$(count sys/wrapping/unwrap)" "1" "unwraps"
assert_eq "$(count auth/approle/login)" "1" "approle logins"
assert_eq "$(count auth/cert/login)" "1" "cert logins"
assert_eq "$(count auth/token/lookup-self)" "1" "token lookup-self"
admin GET /admin/requests | python3 -c '
import json,sys
log=json.load(sys.stdin)["log"]
assert any(r["path"]=="auth/cert/login" and r["client_cert"] for r in log), "cert login without client cert"
' || fail "cert login did not present the client certificate"
pass "token, approle (wrapped secret_id unwrapped once) and cert auth"

wait_for "$NT shared targets" 20 has_value "s$NT" pw canary-shared-51c7
for i in $(seq 1 $NT); do has_value "s$i" pw canary-shared-51c7 || fail "target s$i"; done
admin POST /admin/reset-log >/dev/null
admin POST /admin/kv '{"path":"secret/shared","data":{"password":"canary-shared2-51c7"}}' >/dev/null
ctl rotate >/dev/null
wait_for "rotation of $NT targets" 20 has_value "s$NT" pw canary-shared2-51c7
for i in $(seq 1 $NT); do has_value "s$i" pw canary-shared2-51c7 || fail "target s$i after rotation"; done
assert_eq "$(count secret/data/shared)" "1" "requests for one refresh of $NT targets"
pass "$NT targets on one KV secret: one request per refresh"

# Revoke every token the broker holds: each store logs in again and serves the new value.
admin GET /admin/tokens | python3 -c '
import json,sys
for t in json.load(sys.stdin)["tokens"]:
    if not t.get("revoked"): print(t["accessor"])' >"$F/accessors"
while read -r acc; do admin POST /admin/revoke-token "{\"accessor\":\"$acc\"}" >/dev/null; done <"$F/accessors"
newtok=$(admin POST /admin/token '{"policies":["web"],"ttl":600,"max_ttl":3600,"token":"tok2-canary-51c7"}' | jget 'j["token"]')
printf '%s\n' "$newtok" >"$F/token"
admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-web2-51c7"}}' >/dev/null
ctl rotate demo >/dev/null
for n in t a c; do wait_for "new value via $n after re-login" 15 has_value demo $n canary-web2-51c7; done
assert_eq "$(count auth/approle/login)" "1" "approle logins after revocation (reset log)"
assert_eq "$(count sys/wrapping/unwrap)" "0" "unwraps after revocation (the secret_id is kept)"
assert_eq "$(count auth/cert/login)" "1" "cert logins after revocation"
pass "revoked tokens: re-login (token file re-read, approle with the kept secret_id, cert)"

out=$(ctl --json status)
echo "$out" | python3 -c '
import json,sys
st={s["name"]:s for s in json.load(sys.stdin)["stores"]}
for n in ("vt","va","vc"):
    assert st[n]["health"]=="ok" and st[n]["token_ttl"]>0, st[n]
' || fail "status: $out"
pass "status: health ok with token TTL"

stop_broker
assert_vault_canary canary-web-51c7 canary-web2-51c7 canary-shared-51c7 canary-shared2-51c7 \
	tok-canary-51c7 tok2-canary-51c7 role-canary-51c7 sid-canary-51c7 wrap-canary-51c7
pass "no canary in logs or state"

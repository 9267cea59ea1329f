#!/usr/bin/env bash
# Vault store token lifecycle with short tokens (ttl 6s, max_ttl 12s): renew-self at about
# 2/3 of the TTL, and a new login before the token reaches its max TTL — a token_file token
# is re-read (the test has put a new one there), an AppRole login uses the secret_id that
# was unwrapped once. Secrets keep flowing with the new tokens; nothing is refused.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {"secret/": {"type": "kv", "version": 2, "secrets": {"web": {"password": "canary-tk-8c21"}}}},
  "policies": {"web": ["secret/data/*"]},
  "approle": {"mount": "approle", "roles": {"short": {
      "role_id": "role-canary-8c21", "secret_ids": ["sid-canary-8c21"], "token_policies": ["web"],
      "token_ttl": 6, "token_max_ttl": 12}}},
  "wrapping_tokens": {"wrap-canary-8c21": {"data": {"secret_id": "sid-canary-8c21"}, "ttl": 300}}
}'
printf 'role-canary-8c21' >"$F/role_id"
printf 'wrap-canary-8c21\n' >"$F/secret_id"
mint() { # TOKEN TTL MAX_TTL: a token whose clock starts now -> its accessor
	admin POST /admin/token "{\"policies\":[\"web\"],\"ttl\":$2,\"max_ttl\":$3,\"token\":\"$1\"}" | jget 'j["accessor"]'
}
cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "vt": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
            "auth": {"method": "token", "token_file": "$F/token"} },
    "va": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
            "auth": {"method": "approle", "role_id_file": "$F/role_id",
                     "secret_id_file": "$F/secret_id", "secret_id_wrapped": true} }
  },
  "bindings": {
    "web": { "secrets": { "t": "vt:secret/web#password", "a": "va:secret/web#password" },
             "refresh": "1h", "grace": "1s", "size": "64k" }
  },
  "targets": { "demo": { "binding": "web", "uid": 1000, "gid": 1000 } }
}
JSON
acc1=$(mint tok1-canary-8c21 6 12)
printf 'tok1-canary-8c21\n' >"$F/token"
start_broker
for n in t a; do wait_for "secret via $n" 10 has_value demo $n canary-tk-8c21; done
# The next token is ready in the file from now on (it must outlive the first); only a
# re-login reads it.
acc2=$(mint tok2-canary-8c21 60 120)
printf 'tok2-canary-8c21\n' >"$F/token"
audit_mark=$(wc -l <"$T/state/audit.jsonl")

relogged() { # both stores are on their second token
	admin GET /admin/requests | python3 -c '
import json,sys
log=json.load(sys.stdin)["log"]
tok2=any(r["path"]=="auth/token/lookup-self" and r["token_accessor"]==sys.argv[1] and r["status"]==200 for r in log)
logins=sum(1 for r in log if r["path"]=="auth/approle/login" and r["status"]==200)
sys.exit(0 if tok2 and logins>=2 else 1)' "$acc2"
}
wait_for "re-login of both stores" 20 relogged
admin GET /admin/requests >"$F/requests.json"
admin GET /admin/tokens >"$F/tokens.json"
python3 - "$F/requests.json" "$F/tokens.json" "$acc1" "$acc2" <<'PY' || fail "token lifecycle: see above"
import json, sys
log = json.load(open(sys.argv[1]))["log"]
toks = {t["accessor"]: t for t in json.load(open(sys.argv[2]))["tokens"]}
acc1, acc2 = sys.argv[3], sys.argv[4]

def at(path, acc=None, ok=True):
    return [r["t"] for r in log if r["path"] == path and (acc is None or r["token_accessor"] == acc)
            and (not ok or r["status"] == 200)]

def check(name, start, acc, relogin_t):
    """start: when the token's clock began; renew-self at ~2/3 of 6 s, new token before 12 s."""
    renews = at("auth/token/renew-self", acc)
    assert renews, f"{name}: no renew-self"
    first = renews[0] - start
    print(f"{name}: renew-self at +{first:.1f}s, {len(renews)} renewal(s); "
          f"new token at +{relogin_t - start:.1f}s (max TTL 12s)")
    assert 3.0 <= first <= 5.0, f"{name}: first renew-self at +{first:.1f}s, not near 2/3 of 6s"
    for a, b in zip(renews, renews[1:]):
        assert b - a >= 2.0, f"{name}: renewals {b - a:.1f}s apart"
    assert toks[acc]["renewals"] == len(renews), (toks[acc], renews)
    assert relogin_t > renews[-1], f"{name}: re-login before the last renewal"
    assert relogin_t < toks[acc]["max_expire"], f"{name}: new token only after the max TTL"
    assert not toks[acc]["revoked"], f"{name}: first token revoked ({toks[acc]['revoked']})"

lookups = at("auth/token/lookup-self", acc1)
new_lookup = at("auth/token/lookup-self", acc2)
assert len(lookups) == 1 and new_lookup, (lookups, new_lookup)
check("token_file", toks[acc1]["max_expire"] - 12, acc1, new_lookup[0])

logins = [r for r in log if r["path"] == "auth/approle/login" and r["status"] == 200]
assert len(logins) == 2, f"{len(logins)} approle logins"
ar = [t for a, t in toks.items() if t["source"] == "approle:short"]
assert len(ar) == 2, ar
first = min(ar, key=lambda t: t["max_expire"])
check("approle", first["max_expire"] - 12, first["accessor"], logins[1]["t"])
unwraps = at("sys/wrapping/unwrap", ok=False)
assert len(unwraps) == 1, f"{len(unwraps)} unwraps: the wrapped secret_id is single-use"

refused = [r for r in log if r["status"] == 403]
assert not refused, f"refused requests: {refused}"
PY
pass "renew-self at ~2/3 TTL, new login before the max TTL (token_file re-read, approle)"

# The new tokens serve secrets.
admin POST /admin/reset-log >/dev/null
admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-tk2-8c21"}}' >/dev/null
ctl rotate demo >/dev/null
for n in t a; do wait_for "new value via $n" 10 has_value demo $n canary-tk2-8c21; done
admin GET /admin/requests | python3 -c '
import json,sys
log=json.load(sys.stdin)["log"]
reads=[r for r in log if r["path"]=="secret/data/web"]
assert len(reads)==2 and all(r["status"]==200 for r in reads), reads
assert sys.argv[1] in {r["token_accessor"] for r in reads}, "token_file store still on its first token"
' "$acc2" || fail "reads with the new tokens"
failed=$(tail -n +"$((audit_mark + 1))" "$T/state/audit.jsonl" | grep -c '"event":"fetch_failed"' || true)
assert_eq "$failed" "0" "fetch_failed events across the re-logins"
ctl --json status >/dev/null
python3 -c '
import json,sys
st={s["name"]:s for s in json.load(open(sys.argv[1]))["stores"]}
for n in ("vt","va"):
    assert st[n]["health"]=="ok" and st[n]["token_ttl"]>0, st[n]
' "$T/ctl.stdout" || fail "status: $(cat "$T/ctl.stdout")"
pass "secrets read with the new tokens, status ok"

stop_broker
assert_vault_canary canary-tk-8c21 canary-tk2-8c21 tok1-canary-8c21 tok2-canary-8c21 \
	role-canary-8c21 sid-canary-8c21 wrap-canary-8c21
pass "no canary in logs or state"

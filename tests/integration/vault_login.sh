#!/usr/bin/env bash
# Vault store workload logins (issue 17): jwt (an RS256 JWT with bound audience and claims),
# kubernetes (a service account token, role bound to its name and namespace) and aws (IAM: a
# SigV4-signed sts:GetCallerIdentity from the AWS credential chain, with the server ID
# header), each checked by the double. The JWT file is read again at each login; login errors
# name the role and mount; no JWT, AWS key or token reaches logs, state or ctl output.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root
SIGN=("$PYTHON3" "$SERVERS/vault_auth_double.py" sign "$F/jwt.key")
# new_jwt FILE CLAIMS: replace FILE at once (as a CI runner or the kubelet does).
new_jwt() { "${SIGN[@]}" "$2" >"$1.new" && mv "$1.new" "$1"; }

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$F/jwt.key" 2>/dev/null ||
	fail "openssl genpkey"
openssl pkey -in "$F/jwt.key" -pubout -out "$F/jwt.pub" 2>/dev/null || fail "openssl pkey"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$F/other.key" 2>/dev/null ||
	fail "openssl genpkey"
now=$(date +%s)
jwt_claims() { # REPOSITORY
	printf '{"iss":"https://ci.example.test","sub":"repo:%s:ref:main","aud":"lockbox","repository":"%s","iat":%d,"exp":%d,"jti":"canary-jti-6d2f"}' \
		"$1" "$1" "$now" $((now + 3600))
}
"${SIGN[@]}" "$(jwt_claims acme/web)" >"$F/ci.jwt"
"${SIGN[@]}" '{"iss":"kubernetes/serviceaccount","sub":"system:serviceaccount:prod:web","aud":["https://kubernetes.default.svc"],"exp":'$((now + 3600))',"kubernetes.io":{"namespace":"prod","serviceaccount":{"name":"web","uid":"canary-uid-6d2f"}}}' >"$F/sa.token"

start_double '{
  "mounts": {"secret/": {"type": "kv", "version": 2, "secrets": {
      "web": {"password": "canary-web-6d2f"}}}},
  "policies": {"web": ["secret/data/*"]},
  "jwt": {"mounts": {"jwt": {"public_key_file": "'"$F"'/jwt.pub", "bound_issuer": "https://ci.example.test",
      "roles": {"ci": {"bound_audiences": ["lockbox"], "bound_claims": {"repository": "acme/web"},
                       "user_claim": "sub", "token_policies": ["web"], "token_ttl": 600, "token_max_ttl": 3600}}}}},
  "kubernetes": {"mounts": {"k8s-prod": {"public_key_file": "'"$F"'/jwt.pub",
      "roles": {"web": {"bound_service_account_names": ["web"], "bound_service_account_namespaces": ["prod"],
                        "token_policies": ["web"], "token_ttl": 600, "token_max_ttl": 3600}}}}},
  "aws_auth": {"mounts": {"aws": {"iam_server_id_header_value": "vault.example.test",
      "keys": {"AKIDLOCKBOXTEST6D2F": {"secret": "canary-awssecret-6d2f", "token": "canary-awstoken-6d2f",
                                       "arn": "arn:aws:iam::123456789012:role/web"}},
      "roles": {"web": {"bound_iam_principal_arn": ["arn:aws:iam::123456789012:role/web"],
                        "token_policies": ["web"], "token_ttl": 600, "token_max_ttl": 3600}}}}}
}'

# The aws login takes lockboxd's credentials as the aws stores do (here: the shared file).
cat >"$F/aws-credentials" <<'INI'
[default]
aws_access_key_id = AKIDLOCKBOXTEST6D2F
aws_secret_access_key = canary-awssecret-6d2f
aws_session_token = canary-awstoken-6d2f
INI
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
	AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
export AWS_SHARED_CREDENTIALS_FILE=$F/aws-credentials AWS_EC2_METADATA_DISABLED=true

store() { # AUTH_JSON
	printf '{"type": "vault", "address": "https://127.0.0.1:%s", "ca_file": "%s", "auth": %s}' \
		"$VPORT" "$F/tls/ca.crt" "$1"
}
cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "vj": $(store '{"method": "jwt", "role": "ci", "jwt_file": "'"$F"'/ci.jwt"}'),
    "vk": $(store '{"method": "kubernetes", "role": "web", "mount": "k8s-prod", "token_file": "'"$F"'/sa.token"}'),
    "vw": $(store '{"method": "aws", "role": "web", "server_id": "vault.example.test"}'),
    "vx": $(store '{"method": "aws", "role": "web", "server_id": "other.example.test"}')
  },
  "bindings": {
    "web": { "secrets": { "j": "vj:secret/web#password", "k": "vk:secret/web#password",
                          "w": "vw:secret/web#password" },
             "refresh": "1h", "grace": "1s", "size": "64k" },
    "wrongsid": { "secrets": { "x": "vx:secret/web#password" }, "refresh": "1h", "grace": "1s", "size": "16k" }
  },
  "targets": { "demo": { "binding": "web", "uid": 1000, "gid": 1000 },
               "other": { "binding": "wrongsid", "uid": 1000, "gid": 1000 } }
}
JSON
"$LB_BIN/lockboxd" --check-config "$CONF" >/dev/null 2>"$T/check.err" || fail "config: $(cat "$T/check.err")"
start_broker
for n in j k w; do wait_for "secret via $n" 20 has_value demo $n canary-web-6d2f; done
assert_eq "$(count auth/jwt/login)" "1" "jwt logins"
assert_eq "$(count auth/k8s-prod/login)" "1" "kubernetes logins"
admin GET /admin/tokens | python3 -c '
import json,sys
src=sorted(t["source"] for t in json.load(sys.stdin)["tokens"] if t["source"] not in ("seed",))
assert src==["aws:web","jwt:ci","k8s-prod:web"], src
' || fail "tokens the double issued: $(admin GET /admin/tokens)"
pass "jwt, kubernetes and aws (IAM, signed server ID header) logins; the double verified each"

store_err() { # STORE: its last_error
	ctl --json status | python3 -c '
import json,sys
st={s["name"]:s for s in json.load(sys.stdin)["stores"]}
print(st[sys.argv[1]].get("last_error",""))' "$1"
}
has_err() { [[ $(store_err "$1") == *"$2"* ]]; }
wait_for "the wrong server ID refused" 20 has_err vx 'aws login (role web, mount aws)'
has_err vx 'expected "vault.example.test" but got "other.example.test"' || fail "vx: $(store_err vx)"
[[ -z $(secret_of other x) ]] || fail "a value arrived through a refused login"
pass "aws login with the wrong server ID: refused, the error names role and mount"

# A new JWT in the file is read at the next login: one whose claim the role does not allow
# is refused (naming role and mount), and the good one after it logs in again.
revoke_all() {
	admin GET /admin/tokens | python3 -c '
import json,sys
for t in json.load(sys.stdin)["tokens"]:
    if not t.get("revoked"): print(t["accessor"])' >"$F/accessors"
	while read -r acc; do admin POST /admin/revoke-token "{\"accessor\":\"$acc\"}" >/dev/null; done <"$F/accessors"
}
new_jwt "$F/ci.jwt" "$(jwt_claims acme/other)"
revoke_all
admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-web2-6d2f"}}' >/dev/null
ctl rotate demo >/dev/null || true
wait_for "the new JWT refused" 20 has_err vj 'jwt login (role ci, mount jwt)'
has_err vj 'claim "repository" does not match' || fail "vj: $(store_err vj)"
has_value demo j canary-web-6d2f || fail "the last good value was not kept"
new_jwt "$F/ci.jwt" "$(jwt_claims acme/web)"
for n in k w; do wait_for "new value via $n after re-login" 20 has_value demo $n canary-web2-6d2f; done
# The login backs off after the refusal: rotate until the good JWT's login is in.
for _ in $(seq 1 60); do
	has_value demo j canary-web2-6d2f && break
	ctl rotate demo >/dev/null 2>&1 || true
	sleep 1
done
has_value demo j canary-web2-6d2f || fail "no new value via j with the good JWT again: $(store_err vj)"
pass "the JWT file is read again at each login; a refused claim names role and mount, the last good value stays"

printf 'not a jwt\n' >"$F/sa.token"
revoke_all
ctl rotate demo >/dev/null || true
wait_for "a file without a JWT refused" 20 has_err vk 'kubernetes login (role web, mount k8s-prod)'
has_err vk 'does not hold a JWT' || fail "vk: $(store_err vk)"
pass "kubernetes: a token file without a JWT is refused before sending, naming role and mount"

stop_broker
assert_vault_canary canary-web-6d2f canary-web2-6d2f canary-jti-6d2f canary-uid-6d2f \
	canary-awssecret-6d2f canary-awstoken-6d2f "$(cut -c1-60 "$F/ci.jwt")"
pass "no canary in logs or state"

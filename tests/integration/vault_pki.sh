#!/usr/bin/env bash
# Vault PKI certificates (issue 17): pki/issue/ROLE with "params" issues a real certificate
# (the double signs with a test CA through the openssl CLI). Every field of one (path,
# params) for one target comes from one issue call; the key matches the certificate; the
# bundle is certificate + chain + key; not_after is the certificate's expiry; a new
# certificate comes at 2/3 of its life and a reader of ..data never sees a certificate and a
# key that do not belong together; lockboxctl targets shows serial and expiry; the key is in
# no log, audit, state or ctl output; params are checked at load.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {
    "pki/": {"type": "pki", "roles": {"web": {"ttl": "1h", "max_ttl": "24h"}}}
  },
  "policies": {"tls": ["pki/issue/web"]},
  "tokens": {"tok-canary-5c2e": {"policies": ["tls"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-5c2e\n' >"$F/token"
AUTH='{"method": "token", "token_file": "'"$F"'/token"}'
P='"params": {"common_name": "web.example.com", "alt_names": "www.example.com", "ttl": "9s"}'
Q='"params": {"common_name": "api.example.com", "ttl": "1h"}'
BINDINGS='{ "tls": { "secrets": {
    "tls.crt":    { "from": "vault:pki/issue/web#certificate", '"$P"' },
    "tls.key":    { "from": "vault:pki/issue/web#private_key", '"$P"' },
    "ca.crt":     { "from": "vault:pki/issue/web#issuing_ca", '"$P"' },
    "chain.pem":  { "from": "vault:pki/issue/web#ca_chain", '"$P"' },
    "bundle.pem": { "from": "vault:pki/issue/web#bundle", '"$P"' },
    "api.crt":    { "from": "vault:pki/issue/web#certificate", '"$Q"' },
    "api.key":    { "from": "vault:pki/issue/web#private_key", '"$Q"' } },
  "refresh": "1h", "grace": "60s", "size": "64k" } }'
vault_config "$AUTH" "$BINDINGS" '{ "t1": {"binding": "tls", "uid": 1000, "gid": 1000},
                                    "t2": {"binding": "tls", "uid": 1001, "gid": 1001} }'
start_broker
for t in t1 t2; do wait_for "certificates of $t" 15 test -s "$T/run/t/$t/api.key"; done
# Before the first rotation (at 2/3 of 9 s): the issue calls so far, and t1's generation
# (kept for the 60 s grace, so the checks below read one generation even if a new one comes).
first_issues=$(count pki/issue/web)
G=$T/run/t/t1/$(readlink "$T/run/t/t1/..data")

# One view of ..data: the key is the certificate's, the bundle is certificate + chain + key.
# Prints the serial of tls.crt.
check_view() { # TARGET
	local d
	d=$T/run/t/$1/$(readlink "$T/run/t/$1/..data")
	# Read each file once, then compare: the generation may go while we look.
	local crt key bundle chain
	crt=$(cat "$d/tls.crt") key=$(cat "$d/tls.key") bundle=$(cat "$d/bundle.pem") chain=$(cat "$d/chain.pem") || return 1
	[[ $(openssl x509 -noout -pubkey <<<"$crt") == "$(openssl pkey -pubout <<<"$key")" ]] ||
		{ echo "key does not match the certificate in $d" >&2; return 1; }
	[[ $bundle == "$crt"$'\n'"$chain"$'\n'"$key" ]] || { echo "bundle is not cert+chain+key in $d" >&2; return 1; }
	openssl x509 -noout -serial <<<"$crt" | cut -d= -f2
}
s1=$(check_view t1) || fail "t1's files do not belong together"
s2=$(check_view t2) || fail "t2's files do not belong together"
[[ $s1 != "$s2" ]] || fail "two targets share a certificate"
assert_eq "$first_issues" "4" "issue calls: 2 targets x 2 distinct params (5 + 2 fields)"
openssl verify -CAfile "$G/ca.crt" "$G/tls.crt" >/dev/null || fail "certificate does not verify against issuing_ca"
openssl x509 -noout -ext subjectAltName -in "$G/tls.crt" | grep -q 'DNS:www.example.com' || fail "alt_names not applied"
openssl x509 -noout -subject -in "$G/api.crt" | grep -q 'api.example.com' || fail "second params"
[[ $(openssl x509 -noout -pubkey -in "$G/api.crt") == "$(openssl pkey -pubout -in "$G/api.key")" ]] || fail "api key"
assert_eq "$(stat -c %a:%u "$G/tls.key")" "400:1000" "key mode and owner"
end=$(date -d "$(openssl x509 -noout -enddate -in "$G/tls.crt" | cut -d= -f2)" +%s)
python3 -c '
import json,sys
m=json.load(open(sys.argv[1]))["secrets"]
assert m["tls.crt"]["not_after"] == m["tls.key"]["not_after"] == int(sys.argv[2]), m
assert m["tls.crt"]["version"].replace(":","").upper() == sys.argv[3].upper(), m
assert "?params=" in m["tls.crt"]["source"] and m["tls.crt"]["source"] != m["api.crt"]["source"], m' \
	"$G/.manifest.json" "$end" "$(openssl x509 -noout -serial -in "$G/tls.crt" | cut -d= -f2)" || fail "manifest: $(cat "$G/.manifest.json")"
ctl targets --wide >"$T/targets.out"
# A serial is up to 20 bytes; a leading zero byte is not printed (19 in 1 of 256 certificates).
grep -E '^t1 ' "$T/targets.out" | grep -qiE "tls.crt@([0-9a-f]{2}:){1,19}[0-9a-f]{2} until " || fail "lockboxctl targets --wide: no serial and expiry: $(cat "$T/targets.out")"
pass "one issue per (target, params), key matches, bundle, chain, not_after = expiry, serial in lockboxctl targets"

# Rotation at 2/3 of 9 s: every view of ..data has a matching pair.
views=0 changes=0 last=$s1
deadline=$((SECONDS + 25))
while ((SECONDS < deadline && changes < 2)); do
	s=$(check_view t1) || fail "a view of t1 mixed two certificates (after $views views)"
	views=$((views + 1))
	[[ $s == "$last" ]] || { changes=$((changes + 1)); last=$s; }
done
((changes >= 2)) || fail "no new certificate in 25 s ($views views)"
n=$(count pki/issue/web)
((n >= 6 && n <= 10)) || fail "issue calls after two rotations of t1 and t2's 9 s certificates: $n"
grep -q '"event":"certificate_issued"' "$T/state/audit.jsonl" || fail "no certificate_issued audit"
assert_eq "$(openssl x509 -noout -subject -in "$T/run/t/t1/api.crt" | grep -c api.example.com)" "1" "api cert kept"
pass "rotation: $changes new certificates of t1, $views views, key always matched; $n issue calls"

# Params are checked at load.
cat >"$T/bad.json" <<JSON
{ "stores": { "local": {"type": "sealed"}, "vault": {"type": "vault", "address": "https://127.0.0.1:1", "auth": $AUTH} },
  "bindings": { "b": { "secrets": {
    "a": { "from": "local:web/a", "params": {"x": "y"} },
    "b": { "from": "vault:pki/issue/web#certificate", "params": {"common_name": ["x"]} },
    "c": { "template": "x", "params": {"x": "y"} } } } } }
JSON
out=$("$LB_BIN/lockboxd" --check-config "$T/bad.json" 2>&1) && fail "bad params accepted"
grep -qE 'bad.json:3:[0-9]+: bindings.b.secrets.a.params: params apply to Vault PKI certificates only' <<<"$out" || fail "params on sealed: $out"
grep -qE 'bad.json:4:[0-9]+: bindings.b.secrets.b.params.common_name: expected string, integer or boolean, got array' <<<"$out" || fail "array param: $out"
grep -qE 'bindings.b.secrets.c: "params" go with "from"' <<<"$out" || fail "params on a template: $out"
pass "params errors at load with FILE:LINE:COL"

key_line=$(sed -n 2p "$T/run/t/t1/tls.key")
stop_broker
grep -rq 'PRIVATE KEY' "$T/state" && fail "a private key in state_dir"
assert_vault_canary tok-canary-5c2e "$key_line"
pass "no key or token in logs, audit, state or ctl output"

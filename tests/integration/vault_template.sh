#!/usr/bin/env bash
# Templates (issue 17): an .env file (template_file), a JSON config and a .pgpass (inline)
# rendered from a leased source and a KV secret. Every rendered file and the plain secret
# beside them come from one lease (one read per target); a rotation changes all of them in
# one generation (a reader of ..data never sees two leases); a changed template file is
# re-read on SIGHUP; bad templates are errors with FILE:LINE:COL and leave the running
# config; no value in logs, audit or state.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {
    "database/": {"type": "database", "roles": {
        "web":   {"default_ttl": 600, "max_ttl": 3600, "renewable": true},
        "short": {"default_ttl": 3, "max_ttl": 6, "renewable": true}}},
    "secret/": {"type": "kv", "version": 2, "secrets": {"web": {"api_key": "  canary-api-9a1f \n"}}}
  },
  "policies": {"web": ["database/creds/*", "secret/data/*", "sys/leases/*"]},
  "tokens": {"tok-canary-9a1f": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-9a1f\n' >"$F/token"
AUTH='{"method": "token", "token_file": "'"$F"'/token"}'
cat >"$F/app.env.tpl" <<'TPL'
# rendered by lockbox
DB_USER={{ vault:database/creds/ROLE#username }}
DB_PASSWORD={{ vault:database/creds/ROLE#password | shell }}
API_KEY={{ vault:secret/web#api_key | trim | shell }}
TPL
bindings() { # ROLE
	sed "s/ROLE/$1/g" "$F/app.env.tpl" >"$F/app-$1.env.tpl"
	cat <<JSON
{ "app": { "secrets": {
    "app.env": { "template_file": "$F/app-$1.env.tpl", "mode": "0440" },
    "config.json": { "template": "{\"db\": {\"user\": {{ vault:database/creds/$1#username | json }}, \"password\": {{ vault:database/creds/$1#password | json }}}, \"api_key\": {{ vault:secret/web#api_key | trim | json }}}\n" },
    "pgpass": { "template": "db.example.com:5432:app:{{ vault:database/creds/$1#username }}:{{ vault:database/creds/$1#password }}\n" },
    "user": "vault:database/creds/$1#username" },
  "refresh": "1h", "grace": "2s", "size": "64k" } }
JSON
}
vault_config "$AUTH" "$(bindings web)" '{ "a1": {"binding": "app", "uid": 1000, "gid": 1000} }'
start_broker
wait_for "rendered files" 10 test -s "$T/run/t/a1/pgpass"
wait_for "user file" 10 test -s "$T/run/t/a1/user"

# One view of ..data: every file from one lease.
check_view() { # TARGET -> prints the username; fails on a mix
	python3 - "$T/run/t/$1" <<'PY'
import json, os, shlex, sys
root = sys.argv[1]
d = os.path.join(root, os.readlink(os.path.join(root, "..data")))
read = lambda n: open(os.path.join(d, n)).read()
env = dict(l.split("=", 1) for l in read("app.env").splitlines() if l and not l.startswith("#"))
env = {k: shlex.split(v)[0] for k, v in env.items()}
cfg = json.loads(read("config.json"))
host, port, db, pu, pp = read("pgpass").strip().split(":")
user = read("user")
assert env["DB_USER"] == cfg["db"]["user"] == pu == user, ("users differ", env["DB_USER"], cfg["db"]["user"], pu, user)
assert env["DB_PASSWORD"] == cfg["db"]["password"] == pp, "passwords differ"
assert env["API_KEY"] == cfg["api_key"] and cfg["api_key"].startswith("canary-api"), "api key"
print(user)
PY
}
u1=$(check_view a1) || fail "files of a1 do not agree"
assert_eq "$(count database/creds/web)" "1" "lease reads for 3 templates + 1 plain secret"
assert_eq "$(stat -c %a "$T/run/t/a1/..data/app.env")" "440" "template mode"
assert_eq "$(stat -c %u:%g "$T/run/t/a1/..data/app.env")" "1000:1000" "template owner"
python3 -c '
import json,sys
m=json.load(open(sys.argv[1]))["secrets"]
s=m["app.env"]
assert s["source"].startswith("template:/") and s["version"].startswith("tpl-"), s
assert s["not_after"] == m["user"]["not_after"] > 0, m' "$T/run/t/a1/..data/.manifest.json" ||
	fail "manifest of a rendered secret: $(cat "$T/run/t/a1/..data/.manifest.json")"
pass "templates over a lease and KV: one read, every file from the same lease, 0440 owner 1000"

# A new KV version: re-rendered at the next refresh, the lease is kept.
admin POST /admin/kv '{"path": "secret/web", "data": {"api_key": "canary-api2-9a1f"}}' >/dev/null
ctl rotate a1 >/dev/null
wait_for "new api key rendered" 10 grep -q "canary-api2-9a1f" "$T/run/t/a1/app.env"
grep -q 'canary-api2-9a1f' "$T/run/t/a1/config.json" || fail "config.json not re-rendered"
assert_eq "$(secret_of a1 user)" "$u1" "user after a KV change"
assert_eq "$(count database/creds/web)" "1" "lease reads after a KV change"
pass "a new KV version re-renders, same lease"

# SIGHUP: a changed template file is read again.
printf 'EXTRA=1\n' >>"$F/app.env.tpl"
vault_config "$AUTH" "$(bindings web)" '{ "a1": {"binding": "app", "uid": 1000, "gid": 1000} }'
kill -HUP "$BROKER_PID"
wait_for "template change after SIGHUP" 10 grep -q '^EXTRA=1$' "$T/run/t/a1/app.env"
pass "template_file re-read on SIGHUP"

# Bad templates: FILE:LINE:COL, the running config stays.
cp "$CONF" "$T/good.json"
printf 'A={{ vault:secret/web#api_key | sh }}\n' >"$F/app-web.env.tpl"
out=$("$LB_BIN/lockboxd" --check-config "$CONF" 2>&1) && fail "bad template accepted"
grep -qF "$F/app-web.env.tpl:1:33: bindings.app.secrets.app.env.template_file: unknown filter \"sh\"" <<<"$out" ||
	fail "no FILE:LINE:COL for a bad filter: $out"
sed -i 's/| json }}, \\"password\\"/| jsn }}, \\"password\\"/' "$CONF"
out=$("$LB_BIN/lockboxd" --check-config "$CONF" 2>&1) && fail "bad inline template accepted"
grep -qE "$CONF:[0-9]+:[0-9]+: bindings.app.secrets.config.json.template: unknown filter \"jsn\"" <<<"$out" ||
	fail "no position for a bad inline filter: $out"
rm -f "$F/app-web.env.tpl"
out=$("$LB_BIN/lockboxd" --check-config "$CONF" 2>&1) && fail "missing template file accepted"
grep -qE "$CONF:[0-9]+:[0-9]+: bindings.app.secrets.app.env.template_file: cannot read the template: $F/app-web.env.tpl" <<<"$out" ||
	fail "unreadable template file: $out"
kill -HUP "$BROKER_PID"
wait_for "reload refused in the log" 10 grep -q 'unknown filter' "$T/lockboxd.log"
sleep 1
grep -q '^EXTRA=1$' "$T/run/t/a1/app.env" || fail "files lost after a refused reload"
cp "$T/good.json" "$CONF"
bindings web >/dev/null # the template file again
pass "bad filter, bad inline filter, missing file: FILE:LINE:COL, running config kept"

# Rotation: a lease at max TTL gets new credentials; a reader of ..data never sees two.
vault_config "$AUTH" "$(bindings short)" '{ "a1": {"binding": "app", "uid": 1000, "gid": 1000} }'
kill -HUP "$BROKER_PID"
wait_for "short lease rendered" 10 bash -c "grep -q 'short' '$T/run/t/a1/user'"
s1=$(secret_of a1 user)
views=0 changes=0 last=$s1
deadline=$((SECONDS + 20))
while ((SECONDS < deadline && changes < 2)); do
	u=$(check_view a1) || fail "a view of a1 mixed two leases"
	views=$((views + 1))
	[[ $u == "$last" ]] || { changes=$((changes + 1)); last=$u; }
done
((changes >= 2)) || fail "no rotation of the short lease seen ($views views)"
pass "rotation: $changes new leases, $views consistent views of ..data"

stop_broker
assert_vault_canary tok-canary-9a1f canary-api-9a1f canary-api2-9a1f "$last" "$u1"
pass "no canary in logs, audit, state or ctl output"

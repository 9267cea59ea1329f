#!/usr/bin/env bash
# Reload while a fetch is out (issue 13, defect 4): two Vault stores, one read held 4 s by
# the double, SIGUSR1, then both stores' configs change and SIGHUP. Closing the old stores
# completes the held fetch; the broker must not touch a store it already closed (under ASan
# this was a heap-use-after-free), keeps serving, and both targets still get their secrets.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root

start_double '{
  "mounts": {"secret/": {"type": "kv", "version": 2, "secrets": {
      "a": {"x": "canary-ra-5c1d"}, "b": {"y": "canary-rb-5c1d"}}}},
  "policies": {"p": ["secret/data/*"]},
  "tokens": {"tok-canary-5c1d": {"policies": ["p"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-canary-5c1d\n' >"$F/token"
write_config() { # EXTRA_STORE_OPTION
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": {
    "va": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
            "auth": {"method": "token", "token_file": "$F/token"}$1 },
    "vb": { "type": "vault", "address": "https://127.0.0.1:$VPORT", "ca_file": "$F/tls/ca.crt",
            "auth": {"method": "token", "token_file": "$F/token"}$1 }
  },
  "bindings": {
    "ba": { "secrets": { "x": "va:secret/a#x" }, "refresh": "1h", "grace": "1s", "size": "64k" },
    "bb": { "secrets": { "y": "vb:secret/b#y" }, "refresh": "1h", "grace": "1s", "size": "64k" }
  },
  "targets": { "ta": { "binding": "ba", "uid": 1000, "gid": 1000 },
               "tb": { "binding": "bb", "uid": 1000, "gid": 1000 } }
}
JSON
}
write_config ""
AUDIT=$T/state/audit.jsonl
start_broker
wait_for "first values" 10 has_value ta x canary-ra-5c1d
wait_for "first values" 10 has_value tb y canary-rb-5c1d

# The later store's read is held; the earlier store answers at once.
admin POST /admin/fault '{"path": "secret/data/b", "delay": 4, "count": 1}' >/dev/null
kill -USR1 "$BROKER_PID"
held() { [[ $(count secret/data/b) -ge 2 ]]; }
wait_for "the held read at the double" 10 held
write_config ', "kv_version": 2'
kill -HUP "$BROKER_PID"
gone() { ! kill -0 "$BROKER_PID" 2>/dev/null; }
reloaded_or_gone() { gone || grep -q '"event":"reload"' "$AUDIT"; }
wait_for "reload" 10 reloaded_or_gone
sleep 1
! gone || fail "lockboxd died on reload with a fetch out: $(grep -m1 -A3 'ERROR: AddressSanitizer' "$T/lockboxd.log" | tr '\n' ' ')"
! grep -q "AddressSanitizer" "$T/lockboxd.log" || fail "ASan report on reload"
ctl status >/dev/null || fail "status does not answer after the reload"
pass "reload with a fetch out: no use of a closed store, the broker keeps serving"

# The reload batch (newer) delivers through the new stores; nothing rolled back.
ctl rotate >/dev/null
wait_for "values after the reload" 10 has_value ta x canary-ra-5c1d
wait_for "values after the reload" 10 has_value tb y canary-rb-5c1d
stop_broker || fail "lockboxd did not exit cleanly"
! grep -q "AddressSanitizer\|LeakSanitizer" "$T/lockboxd.log" || fail "sanitizer report"
assert_vault_canary canary-ra-5c1d canary-rb-5c1d
pass "both targets keep their secrets; clean stop"

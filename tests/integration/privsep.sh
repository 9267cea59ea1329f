#!/usr/bin/env bash
# Privilege separation (issue 15): the network worker that runs every network store.
# - /proc: the worker's Uid/Gid are not 0, every capability set is empty, NoNewPrivs 1,
#   Seccomp 2; root holds no TCP socket (ss -tp) while the worker talks to Vault;
#   lockboxctl status shows both processes.
# - SIGKILL of the worker during a Vault fetch: audited, restarted, the last good file kept,
#   the next rotation delivered.
# - A worker that stops answering (SIGSTOP) is killed after the deadline and restarted.
source "$(dirname "$0")/vault_lib.sh" "$1"
need_root
command -v ss >/dev/null || skip "ss (iproute2) is needed"

start_double '{
  "mounts": {"secret/": {"type": "kv", "version": 2, "secrets": {
      "web": {"password": "canary-ps1-7d2e"}}}},
  "policies": {"web": ["secret/data/web"]},
  "tokens": {"tok-ps-7d2e": {"policies": ["web"], "ttl": 600, "max_ttl": 3600, "renewable": true}}
}'
printf 'tok-ps-7d2e\n' >"$F/token"
vault_config '{"method": "token", "token_file": "'"$F"'/token"}' '{
  "web": { "secrets": { "pw": "vault:secret/web#password" },
           "refresh": "1h", "grace": "1s", "size": "64k" } }' '{
  "demo": { "binding": "web", "uid": 1000, "gid": 1000 } }'
start_broker
wait_for "the Vault secret through the worker" 10 has_value demo pw canary-ps1-7d2e
AUDIT=$T/state/audit.jsonl

worker_pid() { ctl --json status | jget 'j["worker"]["pid"]'; }
new_worker() { # OLD_PID: a worker other than OLD_PID is up
	local p
	p=$(worker_pid) && [[ $p != "$1" && $p != 0 && $(ctl --json status | jget 'j["worker"]["state"]') == up ]]
}
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
w=$(worker_pid)
[[ $w =~ ^[0-9]+$ && $w != 0 ]] || fail "status names no worker pid: $(ctl --json status)"
assert_eq "$(awk '{print $4}' "/proc/$w/stat")" "$BROKER_PID" "the worker's parent"
read -r ruid euid suid fsuid <<<"$(field "$w" Uid)"
for u in "$ruid" "$euid" "$suid" "$fsuid"; do [[ $u != 0 ]] || fail "worker uid 0: $(field "$w" Uid)"; done
read -r rgid egid sgid fsgid <<<"$(field "$w" Gid)"
for g in "$rgid" "$egid" "$sgid" "$fsgid"; do [[ $g != 0 ]] || fail "worker gid 0: $(field "$w" Gid)"; done
assert_eq "$(field "$w" Groups)" "" "the worker's supplementary groups"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	assert_eq "$(field "$w" "$c")" "0000000000000000" "the worker's $c"
done
assert_eq "$(field "$w" NoNewPrivs)" "1" "the worker's NoNewPrivs"
assert_eq "$(field "$w" Seccomp)" "2" "the worker's Seccomp"
assert_eq "$(field "$w" Uid | awk '{print $1}')" "$(ctl --json status | jget 'j["worker"]["uid"]')" "status uid"
pass "worker: uid $ruid gid $rgid, no capability, no_new_privs, seccomp filter"

# The worker holds the connection to Vault (curl keeps it), root holds none.
tcp_of() { ss -Htnp 2>/dev/null | grep -c "pid=$1," || true; }
[[ $(tcp_of "$BROKER_PID") == 0 ]] || fail "root holds TCP sockets: $(ss -Htnp | grep "pid=$BROKER_PID,")"
ctl rotate demo >/dev/null
[[ $(tcp_of "$BROKER_PID") == 0 ]] || fail "root holds TCP sockets after a rotation"
ctl --json status | jget 'j["pid"]' >/dev/null || fail "status has no root pid"
echo "RSS: root $(ctl --json status | jget 'j["worker"]["root_rss_kib"]') KiB, worker $(ctl --json status | jget 'j["worker"]["rss_kib"]') KiB"
pass "root holds no TCP socket; status shows both processes"

# The worker's counters (store requests happen there) reach root's /metrics.
if command -v curl >/dev/null && [[ -S $T/run/metrics.sock ]]; then
	relayed() {
		curl -sf --max-time 5 --unix-socket "$T/run/metrics.sock" http://lockbox/metrics |
			grep -q '^lockbox_store_requests_total{store="vault".*} [1-9]'
	}
	wait_for "the worker's store requests on /metrics" 10 relayed
	pass "the worker's metrics are served on root's /metrics"
fi

# SIGKILL during a fetch: Vault holds the next read of secret/web for 20 s.
gen=$(generation_of demo)
admin POST /admin/fault '{"path":"secret/data/web","delay":20,"count":1}' >/dev/null
admin POST /admin/reset-log >/dev/null
ctl rotate demo >/dev/null
held() { (($(count secret/data/web) >= 1)); }
wait_for "the held read" 10 held
kill -KILL "$w"
wait_for "the worker_down audit" 10 grep -q '"event":"worker_down"' "$AUDIT"
wait_for "a new worker" 10 new_worker "$w"
w2=$(worker_pid)
assert_eq "$(field "$w2" Seccomp)" "2" "the restarted worker's Seccomp"
grep -q '"event":"fetch_failed".*network worker' "$AUDIT" || fail "the fetch cut by the kill was not reported"
has_value demo pw canary-ps1-7d2e || fail "the last good file was not kept: $(secret_of demo pw)"
assert_eq "$(generation_of demo)" "$gen" "generation after the fetch the kill cut"
admin POST /admin/clear-faults >/dev/null
admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-ps2-7d2e"}}' >/dev/null
ctl rotate demo >/dev/null
wait_for "the next rotation through the new worker" 10 has_value demo pw canary-ps2-7d2e
kill -0 "$BROKER_PID" || fail "lockboxd died with its worker"
pass "SIGKILL of the worker during a fetch: audited, restarted, last good file kept, next rotation delivered"

# A worker that stops answering is killed after the deadline (15 s) and restarted.
kill -STOP "$w2"
wait_for "the silent worker killed" 30 grep -q '"event":"worker_down".*stopped answering' "$AUDIT"
wait_for "a third worker" 10 new_worker "$w2"
admin POST /admin/kv '{"path":"secret/web","data":{"password":"canary-ps3-7d2e"}}' >/dev/null
ctl rotate demo >/dev/null
wait_for "a rotation through the third worker" 10 has_value demo pw canary-ps3-7d2e
pass "a silent worker is killed after the deadline; the next rotation works"

w3=$(worker_pid)
stop_broker || fail "lockboxd did not stop cleanly"
[[ ! -e /proc/$w3 ]] || fail "the worker outlived lockboxd"
assert_vault_canary canary-ps1-7d2e canary-ps2-7d2e canary-ps3-7d2e
pass "no canary outside the fixtures and the target"

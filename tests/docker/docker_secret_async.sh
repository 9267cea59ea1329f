#!/usr/bin/env bash
# The Swarm secret driver's answers without a swarm (no dockerd needed: the plugin socket is
# served while the engine side retries), as dockerd's dispatcher would ask:
# - a GetSecret waiting on a store that never answers does not hold up the loop: a GetSecret of
#   the sealed store, VolumeDriver.List and lockboxctl status are answered meanwhile; the
#   waiting one gets an error naming its source once the deadline (or the store's timeout)
#   passes;
# - the value comes back as Swarm wants it (base64 in "Value"), never in a log;
# - a source no binding lists, a malformed request, and a binding that requires posture
#   checks while dockerd cannot be asked are clear errors.
source "$(dirname "$0")/../integration/lib.sh" "$1"
need_root
command -v curl >/dev/null || skip "curl is needed"
command -v openssl >/dev/null || skip "openssl is needed for the test CA"

"$SERVERS/make_ca.sh" "$T/tls" >/dev/null 2>&1 || fail "make_ca.sh failed"
printf 'tok-hang\n' >"$T/token"
# Listens, accepts, reads nothing and says nothing; gone after 90 s at the latest.
python3 -c '
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(1)
held, end = [], time.time() + 90
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
' "$T/hport" &
HANG_PID=$!
on_exit "kill -TERM $HANG_PID 2>/dev/null; wait $HANG_PID 2>/dev/null"
wait_for "hanging endpoint" 10 test -s "$T/hport"

PSOCK=$T/plugins/lbsecret.sock
cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "docker": { "socket": "$T/no-dockerd.sock", "plugin_socket": "$PSOCK" },
  "stores": {
    "local": { "type": "sealed" },
    "hang": { "type": "vault", "address": "https://127.0.0.1:$(cat "$T/hport")",
              "ca_file": "$T/tls/ca.crt", "auth": {"method": "token", "token_file": "$T/token"} }
  },
  "bindings": {
    "web": { "secrets": { "pw": "local:web/pw" }, "require": [] },
    "slow": { "secrets": { "x": "hang:secret/x#v" }, "require": [] },
    "strict": { "secrets": { "k": "local:web/k" }, "require": ["non-root"] }
  }
}
JSON
start_broker
put_secret web/pw "canary-sa-$$-pw"
put_secret web/k "canary-sa-$$-k"
wait_for "plugin socket" 10 test -S "$PSOCK"

plugin() { # ENDPOINT BODY [MAX_SECONDS]
	curl -sS --max-time "${3:-10}" --unix-socket "$PSOCK" -X POST -d "$2" "http://lockbox/$1"
}
get_secret() { # NAME SOURCE_LABEL_JSON TASKID [MAX_SECONDS]
	plugin SecretProvider.GetSecret "{\"SecretName\":\"$1\",\"SecretLabels\":$2,\"ServiceName\":\"svc\",\"TaskID\":\"$3\",\"TaskName\":\"svc.1.$3\",\"NodeID\":\"n1\"}" "${4:-10}"
}

out=$(plugin Plugin.Activate '')
[[ $out == *'"secretprovider"'* && $out == *VolumeDriver* ]] || fail "Plugin.Activate: $out"
pass "Plugin.Activate lists VolumeDriver and secretprovider"

# A request that waits on the hanging store, in the background.
t0=$SECONDS
get_secret slow '{"lockbox.source":"hang:secret/x#v"}' t1slow 60 >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 1
# Meanwhile the loop answers everything else.
out=$(get_secret web_pw '{"lockbox.source":"local:web/pw"}' t2fast 5) || fail "GetSecret of the sealed store while another waits: $out"
val=$(python3 -c 'import base64,json,sys; r=json.loads(sys.argv[1]); print(base64.b64decode(r["Value"]).decode(), r.get("DoNotReuse"))' "$out") ||
	fail "GetSecret reply: $out"
[[ $val == "canary-sa-$$-pw False" ]] || fail "GetSecret value: $val"
plugin VolumeDriver.List '{}' 5 | grep -q '"Volumes"' || fail "VolumeDriver.List while a GetSecret waits"
ctl status >/dev/null || fail "lockboxctl status while a GetSecret waits"
kill -0 "$SLOW" 2>/dev/null || fail "the GetSecret of the hanging store was answered at once: $(cat "$T/slow.out")"
pass "a GetSecret waiting on a hung store holds up nothing: another GetSecret (value base64, DoNotReuse false), List and lockboxctl are answered meanwhile"

wait "$SLOW" || true
slow=$(cat "$T/slow.out")
[[ $slow == *'"Err"'*'Swarm secret slow: hang:secret/x#v'* ]] || fail "the waiting GetSecret: $slow ($((SECONDS - t0)) s)"
pass "the waiting one gets an error naming its source after $((SECONDS - t0)) s: $slow"

out=$(get_secret stolen '{"lockbox.source":"local:web/other"}' t3)
[[ $out == *'"Err"'*'Swarm secret stolen: source local:web/other is not allowed'* ]] || fail "unlisted source: $out"
out=$(get_secret k '{"lockbox.binding":"web","lockbox.secret":"nope"}' t4)
[[ $out == *'binding web has no secret \"nope\"'* ]] || fail "unknown secret: $out"
out=$(plugin SecretProvider.GetSecret '{"SecretName":"s","TaskID":"t5","SecretLabels":{"lockbox.path":"x"}}')
[[ $out == *'bad GetSecret request: unknown label \"lockbox.path\"'* ]] || fail "unknown label: $out"
out=$(plugin SecretProvider.GetSecret '{"SecretName":')
[[ $out == *'"Err"'*'malformed GetSecret request'* ]] || fail "malformed body: $out"
out=$(get_secret k '{"lockbox.source":"local:web/k"}' t6)
[[ $out == *'"Err"'*'cannot check the posture of task t6'* ]] || fail "posture without dockerd: $out"
pass "an unlisted source, an unknown secret, an unknown label, a malformed body, a posture check dockerd cannot answer: each a clear Err"

grep -q 'swarm_secret_refused.*"secret":"stolen"' "$T/lockboxd.log" || fail "no swarm_secret_refused audit event"
grep -q '"event":"swarm_secret".*"secret":"web_pw"' "$T/lockboxd.log" ||
	grep -q 'swarm_secret.*web_pw' "$T/lockboxd.log" || fail "no swarm_secret audit event"
stop_broker
assert_no_canary "canary-sa-$$" --exclude-dir=sealed
pass "audited; no value in logs, audit or state"

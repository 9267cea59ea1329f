#!/usr/bin/env bash
# Swarm secrets from lockbox (issue 16): `docker secret create --driver lockbox` on a real
# swarm of a manager and a worker (fleet_lib.sh, NODES=2: their own network namespaces, so no
# other test's swarm port is in the way), the store the Vault double:
# - a KV source: the task reads the value from /run/secrets/NAME, as its own user;
# - a leased source (database/creds): each task gets its own lease (DoNotReuse), a second task
#   gets a fresh value; the leases are revoked once the tasks are gone;
# - a source no binding lists, and a task that fails the binding's posture gate: no value,
#   the task does not run, lockboxd logs and audits the reason;
# - the request dockerd really sends is recorded (what docs/swarm.md says);
# - the leader manager's lockboxd fetches the value of a task that runs on the worker.
NODES=${NODES:-2}
source "$(dirname "$0")/fleet_lib.sh" "$1"
((NODES >= 2)) || fail "NODES=$NODES: the test needs a manager and a worker"

fleet_up '{
    "secret/": {"type": "kv", "version": 2, "secrets": {"web": {"password": "canary-ss-'$$'-kv"},
                                                         "other": {"password": "canary-ss-'$$'-other"}}},
    "database/": {"type": "database", "roles": {"web": {"default_ttl": 3600, "max_ttl": 7200}}}
  }' '["secret/data/*", "database/creds/*", "sys/leases/*"]' '{
    "web": {
      "secrets": { "db_password": "vault:secret/web#password",
                   "db_user": "vault:database/creds/web#username" },
      "require": ["non-root", "no-privileged"],
      "refresh": "1h", "size": "64k"
    }
  }' lbss:1
LOG=$T/n1/lockboxd.log

sec() { # NAME SOURCE
	nd 1 secret create --driver lockbox --label "lockbox.source=$2" "$1" >/dev/null 2>"$T/secret.err" ||
		fail "secret create $1: $(cat "$T/secret.err")"
}
sec web_pw vault:secret/web#password
sec web_user vault:database/creds/web#username
sec stolen vault:secret/other#password

task_container() { # SERVICE: the container id of a running task
	nd 1 ps -q --filter "label=com.docker.swarm.service.name=$1" --filter status=running | head -1
}
values_of() { # SERVICE FILE: what each running task sees at /run/secrets/FILE, one a line
	local c pid
	for c in $(nd 1 ps -q --filter "label=com.docker.swarm.service.name=$1" --filter status=running); do
		pid=$(nd 1 inspect --format '{{.State.Pid}}' "$c") || continue
		cat "/proc/$pid/root/run/secrets/$2" 2>/dev/null && echo
	done
}
app_says() { # SERVICE TEXT: the app printed it (the file as the task's own user read it)
	local c
	c=$(task_container "$1")
	[[ -n $c ]] && nd 1 logs "$c" 2>&1 | grep -F -- "$2" >/dev/null
}
why() { nd 1 service ps --no-trunc --format '{{.CurrentState}} | {{.Error}}' "$1" 2>&1 | head -3; }

# --- the request dockerd sends: a capture plugin (driver lbcap) answers an error ---
cat >"$T/capture.py" <<'PY'
import json, socketserver, sys
from http.server import BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        out = {"Implements": ["secretprovider"]}
        if self.path != "/Plugin.Activate":
            with open(sys.argv[2], "ab") as f:
                f.write(self.path.encode() + b" " + body + b"\n")
            out = {"Err": "capture only"}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a): pass
    def address_string(self): return "unix"
socketserver.UnixStreamServer.allow_reuse_address = True
socketserver.UnixStreamServer(sys.argv[1], H).serve_forever()
PY
nsenter -t "${HOLDER[1]}" -m "$PYTHON3" "$T/capture.py" /run/docker/plugins/lbcap.sock "$T/captured" 2>"$T/capture.log" &
CAPTURE_PID=$!
on_exit "kill $CAPTURE_PID 2>/dev/null"
wait_for "capture plugin" 10 test -S "/proc/${HOLDER[1]}/root/run/docker/plugins/lbcap.sock"
nd 1 secret create --driver lbcap --label lockbox.source=vault:secret/web#password --label app=web cap >/dev/null ||
	fail "secret create with the capture driver"
nd 1 service create --detach --name cap --constraint node.hostname==node1 --user 1000:1000 --label tier=front --secret cap --restart-max-attempts 1 lbss:1 \
	/app --seconds 5 >/dev/null || fail "service create cap"
wait_for "dockerd asking the capture plugin" 60 test -s "$T/captured" || fail "dockerd never called GetSecret: $(why cap)"
sleep 3 # the failed task's state settles
echo "dockerd sent: $(head -1 "$T/captured")"
echo "docker service ps shows for a plugin Err: $(why cap)"
"$PYTHON3" - "$T/captured" <<'PY' || fail "GetSecret request: $(head -1 "$T/captured")"
import json, sys
path, body = open(sys.argv[1]).readline().split(" ", 1)
assert path == "/SecretProvider.GetSecret", path
r = json.loads(body)
for k in ("SecretName", "SecretLabels", "ServiceID", "ServiceName", "ServiceLabels", "TaskID", "TaskName", "TaskImage", "NodeID"):
    assert k in r, "no " + k
assert r["SecretName"] == "cap" and r["SecretLabels"]["lockbox.source"] == "vault:secret/web#password", r
assert r["ServiceName"] == "cap" and r["ServiceLabels"] == {"tier": "front"}, r
assert "User" not in r and "ContainerSpec" not in r, "the request carries the spec now"
PY
kill "$CAPTURE_PID" 2>/dev/null
wait "$CAPTURE_PID" 2>/dev/null || true
nd 1 service rm cap >/dev/null 2>&1
pass "dockerd's GetSecret carries SecretName, SecretLabels, Service*, Task*, NodeID, and no user or capabilities"

# --- a KV source ---
nd 1 service create --detach --name kv --constraint node.hostname==node1 --user 1000:1000 --secret web_pw lbss:1 \
	/app --seconds 600 /run/secrets/web_pw >/dev/null || fail "service create kv"
wait_for "kv task reading its value" 90 app_says kv "/run/secrets/web_pw=canary-ss-$$-kv" ||
	fail "kv task did not read its value: $(nd 1 logs "$(task_container kv)" 2>&1 | tail -3); $(why kv); $(tail -3 "$LOG")"
app_says kv "uid=1000 gid=1000" || fail "kv task not as uid 1000"
grep -q 'swarm_secret.*web_pw' "$LOG" || fail "no swarm_secret audit event"
pass "docker secret create --driver lockbox: the task reads the Vault value from /run/secrets/web_pw as uid 1000"

# --- a leased source: one lease per task (DoNotReuse); without it the dispatcher would hand
# the second task of the node the first one's value ---
nd 1 service create --detach --name leased --constraint node.hostname==node1 --replicas 2 --user 1000:1000 --secret web_user lbss:1 \
	/app --seconds 600 /run/secrets/web_user >/dev/null || fail "service create leased"
two_values() { [[ $(values_of leased web_user | grep -c .) -eq 2 ]]; }
wait_for "2 tasks of leased with their values" 90 two_values || fail "leased tasks: $(why leased)"
vals=$(values_of leased web_user | sort -u | grep -c .)
[[ $vals -eq 2 ]] || fail "2 tasks share one leased value: $(values_of leased web_user | tr '\n' ' ')"
leases=$(node_leases 1 | wc -l)
((leases >= 2)) || fail "node holds $leases leases for 2 tasks"
pass "a leased source: each task gets its own lease and value (DoNotReuse), $leases leases"

# Swarm never tells a driver that a task ended: lockboxd lists the tasks every 15 s and revokes
# the leases of tasks that are gone (and only those).
revoked_of() { # LEASE_ID...: how many of them the double has revoked
	admin GET /admin/leases | python3 -c '
import json, sys
r = {l["lease_id"] for l in json.load(sys.stdin)["revoked"] if l["reason"] == "revoked"}
print(sum(1 for x in sys.argv[1:] if x in r))' "$@"
}
mapfile -t lease_ids < <(node_leases 1)
sleep 17 # one pass of the task listing with both tasks alive
assert_eq "$(revoked_of "${lease_ids[@]}")" "0" "leases revoked while their tasks run"
# A restarted lockboxd still knows them (state_dir).
stop_node_lockboxd 1
start_node_lockboxd 1
nd 1 service rm leased >/dev/null || fail "service rm leased"
all_revoked() { [[ $(revoked_of "${lease_ids[@]}") -eq ${#lease_ids[@]} ]]; }
wait_for "the leases of the removed tasks revoked" 90 all_revoked
grep -q 'swarm task .* is gone: its leases released\|swarm task .* is shutdown: its leases released' "$LOG" ||
	fail "no release in lockboxd's log"
pass "service rm: lockboxd (restarted meanwhile) revokes the leases of the tasks it served (${#lease_ids[@]}), none while they ran"

# --- a source no binding lists ---
nd 1 service create --detach --name stolen --constraint node.hostname==node1 --user 1000:1000 --secret stolen --restart-max-attempts 1 lbss:1 \
	/app --seconds 600 /run/secrets/stolen >/dev/null || fail "service create stolen"
wait_for "lockboxd refusing the unlisted source" 60 grep -q 'Swarm secret stolen: source vault:secret/other#password is not allowed' "$LOG" ||
	fail "no refusal in lockboxd's log: $(tail -5 "$LOG")"
sleep 3 # the task's state settles
[[ -z $(task_container stolen) ]] || fail "a task of stolen runs: $(why stolen)"
app_says stolen canary-ss && fail "the unlisted source reached a task"
echo "docker service ps shows: $(why stolen)"
echo "lockboxd logs: $(grep -m1 'is not allowed' "$LOG")"
pass "a source no binding lists is refused: no task runs with it; lockboxd logs why"

# --- the posture gate on the task spec ---
nd 1 service create --detach --name asroot --constraint node.hostname==node1 --user 0 --secret web_pw --restart-max-attempts 1 lbss:1 \
	/app --seconds 600 /run/secrets/web_pw >/dev/null || fail "service create asroot"
wait_for "lockboxd refusing a root task" 60 grep -q 'binding web refused container: .*non-root.*Swarm secret web_pw' "$LOG" ||
	fail "no posture refusal: $(tail -5 "$LOG")"
[[ -z $(task_container asroot) ]] || fail "a task of asroot runs: $(why asroot)"
echo "lockboxd logs: $(grep -m1 'binding web refused container' "$LOG")"
pass "a task whose spec fails the posture gate (runs as root) gets no value"

# --- deploy/stack-secrets.yaml as shipped (image and source adapted; the command that prints
# the file and the placement added by a second stack file) ---
sed -e "s|registry.example/web:1|lbss:1|; s|local:web/db_password|vault:secret/web#password|" \
	"$(dirname "$0")/../../deploy/stack-secrets.yaml" >"$T/stack.yaml"
cat >"$T/stack-test.yaml" <<'YAML'
version: "3.8"
services:
  app:
    command: [/app, --seconds, "600", /run/secrets/db_password]
    deploy:
      placement:
        constraints: [node.hostname==node1]
YAML
nd 1 stack deploy -c "$T/stack.yaml" -c "$T/stack-test.yaml" st >"$T/stack.log" 2>&1 ||
	fail "stack deploy of deploy/stack-secrets.yaml: $(cat "$T/stack.log")"
! grep -qi "ignoring unsupported" "$T/stack.log" || fail "stack deploy ignored options: $(cat "$T/stack.log")"
wait_for "the stack's task reading its value" 90 app_says st_app "/run/secrets/db_password=canary-ss-$$-kv" ||
	fail "st_app: $(why st_app); $(tail -3 "$LOG")"
app_says st_app "uid=1000 gid=1000" || fail "st_app task not as uid 1000"
nd 1 stack rm st >/dev/null 2>&1 || fail "stack rm st"
pass "deploy/stack-secrets.yaml: docker stack deploy creates the lockbox secret; the task reads it as uid 1000"

# --- who asks: the leader manager's lockboxd, also for a task on the worker ---
nd 1 service create --detach --name onworker --constraint node.hostname==node2 --user 1000:1000 \
	--secret web_pw lbss:1 /app --seconds 600 /run/secrets/web_pw >/dev/null || fail "service create onworker"
worker_read() {
	local c
	c=$(nd 2 ps -q --filter label=com.docker.swarm.service.name=onworker --filter status=running | head -1)
	[[ -n $c ]] && nd 2 logs "$c" 2>&1 | grep -F "/run/secrets/web_pw=canary-ss-$$-kv" >/dev/null
}
wait_for "the task on the worker reading its value" 90 worker_read || fail "onworker: $(why onworker)"
grep -q 'swarm_secret.*"service":"onworker"' "$LOG" || fail "the manager's lockboxd did not fetch onworker's value"
! grep -q 'swarm_secret' "$T/n2/lockboxd.log" || fail "the worker's lockboxd was asked: $(grep -m1 swarm_secret "$T/n2/lockboxd.log")"
pass "a task on the worker gets its value from the leader manager's lockboxd; the worker's is never asked"

for s in kv stolen asroot onworker; do nd 1 service rm "$s" >/dev/null 2>&1; done
if grep -rlF "canary-ss-$$" "$T"/n*/lockboxd.log "$T"/n*/state 2>/dev/null; then
	fail "a secret value in a lockboxd's log or state"
fi
pass "no secret value in lockboxd's log or state"

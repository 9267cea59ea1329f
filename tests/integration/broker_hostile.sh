#!/usr/bin/env bash
# Hostile clients of lockboxd's own sockets, no dockerd needed (the engine side just retries):
# - plugin socket: 200 simultaneous connections put libmicrohttpd at its limit; once they
#   close, the next request must be answered (issue 13 defect 6: wedged for good);
# - control socket: 300 connections each announcing a 2 MiB request and sending 1 KiB must
#   not pin memory (defect 10: 2 MiB of locked memory each), and lockboxctl works after;
# - VolumeDriver.Path must not leak its reply (defect 10; LSan fails the asan preset's exit).
source "$(dirname "$0")/lib.sh" "$1"
need_root

write_basic_config
python3 - "$CONF" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["docker"] = {"socket": sys.argv[2] + "/no-dockerd.sock",
               "plugin_socket": sys.argv[2] + "/plugins/lbhostile.sock"}
json.dump(c, open(sys.argv[1], "w"))
PY
put_secret web/db_password "canary-hostile-1"
put_secret web/api_key "canary-hostile-2"
start_broker
PSOCK=$T/plugins/lbhostile.sock
wait_for "plugin socket" 10 test -S "$PSOCK"

plugin() { # ENDPOINT BODY
	curl -sS --max-time 10 --unix-socket "$PSOCK" -X POST -d "$2" "http://lockbox/$1"
}

# --- defect 6 ---
python3 - "$PSOCK" <<'PY' || fail "plugin socket wedged after a connection flood"
import socket, sys, time
path = sys.argv[1]
for round in range(3):
    held = []
    for i in range(200):
        c = socket.socket(socket.AF_UNIX)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError:
            pass
        except OSError:
            c.close()
            break
        held.append(c)
    time.sleep(1)
    for c in held:
        c.close()
    time.sleep(0.3)
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(10)
    try:
        c.connect(path)
        c.sendall(b"POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        r = c.recv(100)
    except OSError as e:
        print("round %d: no answer: %s" % (round, e))
        sys.exit(1)
    if not r.startswith(b"HTTP/1.1 200"):
        print("round %d: answer %r" % (round, r))
        sys.exit(1)
PY
out=$(plugin Plugin.Activate '')
[[ $out == *VolumeDriver* ]] || fail "Plugin.Activate after the flood: $out"
pass "plugin socket answers after 3 floods of 200 connections"

# --- defect 10: VolumeDriver.Path (leak shows at exit under LSan) ---
out=$(plugin VolumeDriver.Create '{"Name":"web"}')
[[ $out == '{}' ]] || fail "Create: $out"
for _ in 1 2 3; do
	out=$(plugin VolumeDriver.Path '{"Name":"web"}')
	[[ $out == '{"Mountpoint":""}' ]] || fail "Path: $out"
done
out=$(plugin VolumeDriver.Remove '{"Name":"web"}')
pass "VolumeDriver.Path answers (no leak: checked at exit)"

# --- defect 10: control socket memory ---
lck() { awk '/^VmLck:/ {print $2}' "/proc/$BROKER_PID/status"; }
base=$(lck)
python3 - "$T/run/control.sock" "$BROKER_PID" "$base" <<'PY' || fail "control socket flood pinned memory"
import socket, sys, time, struct
path, pid, base = sys.argv[1], sys.argv[2], int(sys.argv[3])
held = []
for i in range(300):
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    try:
        c.connect(path)
    except BlockingIOError:
        pass
    except OSError:
        c.close()
        continue
    try:
        c.send(struct.pack(">I", 2 * 1024 * 1024) + b"{" * 1024)
    except OSError:
        pass
    held.append(c)
time.sleep(1.5)
peak = 0
for line in open("/proc/%s/status" % pid):
    if line.startswith("VmLck:"):
        peak = int(line.split()[1])
for c in held:
    c.close()
print("VmLck %d kB before, %d kB with %d connections" % (base, peak, len(held)))
# 8 MiB pending cap plus sodium's guard pages; 300 x 2 MiB before the fix.
sys.exit(0 if peak - base < 24 * 1024 else 1)
PY
wait_for "lockboxctl status after the flood" 15 ctl status >/dev/null
pass "announced control requests do not pin memory; lockboxctl still answers"

stop_broker || fail "lockboxd exited with status $? (a leak under LSan?)"
if grep -q "LeakSanitizer\|AddressSanitizer" "$T/lockboxd.log"; then
	fail "sanitizer report in lockboxd.log"
fi
pass "lockboxd exits cleanly"

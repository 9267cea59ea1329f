#!/usr/bin/env bash
# A config reload (SIGHUP) while a publisher child still writes its share of a rotation: the
# child's share points into the old config's bindings, so the reload applies the child's
# outcome first. The child is held with SIGSTOP across the SIGHUP; under ASan the old order
# (config freed, then the child's outcome applied) is a heap-use-after-free.
source "$(dirname "$0")/lib.sh" "$1"
need_root

N=100 # above the split threshold (64 targets to publish in one pass)
extra=""
for i in $(seq 1 "$N"); do extra+=", \"t$i\": { \"binding\": \"web\", \"uid\": 1000, \"gid\": 1000 }"; done
write_basic_config "$extra"
put_secret web/db_password "v0"
put_secret web/api_key "k0"
start_broker
all_have() { # VALUE
	local i
	for i in $(seq 1 "$N"); do [[ $(cat "$T/run/t/t$i/db_password" 2>/dev/null) == "$1" ]] || return 1; done
}
wait_for "first generation of $N targets" 60 all_have v0

# Put a new value, catch the publisher child and stop it; a few tries (it lives for ms). The
# watcher runs before the put starts.
held=
for try in 1 2 3 4 5 6 7 8; do
	rm -f "$T/held"
	python3 - "$BROKER_PID" "$T/held" "$T/watching" <<'PY' &
import os, signal, sys, time
b, out, ready = sys.argv[1:4]
open(ready, "w").close()
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        kids = open(f"/proc/{b}/task/{b}/children").read().split()
    except OSError:
        break
    if kids:
        k = kids[0]
        os.kill(int(k), signal.SIGSTOP)
        # Caught only if it stops: a zombie (done already) is a miss.
        for _ in range(100):
            try:
                st = open(f"/proc/{k}/stat").read().rsplit(")", 1)[1].split()[0]
            except OSError:
                st = "gone"
            if st in ("T", "t", "Z", "X", "gone"):
                break
            time.sleep(0.001)
        if st in ("T", "t"):
            with open(out, "w") as f:
                f.write(k)
        break
PY
	watcher=$!
	wait_for "watcher" 10 test -e "$T/watching"
	printf 'v%s' "$try" | "$LB_BIN/lockboxctl" --config "$CONF" secret put web/db_password >"$T/put.out" 2>&1 &
	put=$!
	caught_or_done() { [[ -s $T/held ]] || ! kill -0 "$put"; }
	wait_for "the publisher child or the put's end" 15 caught_or_done
	[[ -s $T/held ]] && { held=$(cat "$T/held"); wait "$watcher" || true; break; }
	kill "$watcher" 2>/dev/null || true
	wait "$watcher" || true
	wait "$put" || fail "secret put: $(cat "$T/put.out")"
	rm -f "$T/watching"
done
[[ -n $held ]] || skip "never caught the publisher child in 8 rotations"
REFRESH=2h write_basic_config "$extra"
kill -HUP "$BROKER_PID"
sleep 0.5
kill -CONT "$held"
wait "$put" || fail "secret put during the reload: $(cat "$T/put.out")"
kill -0 "$BROKER_PID" 2>/dev/null || fail "lockboxd died across a reload during a split pass"
wait_for "reload audited" 10 grep -q '"event":"reload"' "$T/state/audit.jsonl"
wait_for "every target has v$try" 30 all_have "v$try"
pass "reload while the publisher child was held: child's share applied, every target has v$try"

put_secret web/db_password "after"
wait_for "a rotation after it" 30 all_have after
ctl status >/dev/null || fail "lockboxctl status after the reload"
pass "the next rotation reaches all $N targets"
stop_broker || fail "lockboxd exit status"
grep -q 'ERROR: AddressSanitizer' "$T/lockboxd.log" && fail "sanitizer report"
pass "clean stop"

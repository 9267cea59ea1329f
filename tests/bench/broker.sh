#!/usr/bin/env bash
# Broker benchmarks (print numbers and ratios, assert nothing about time):
#  - rotation of one secret shared by N targets (default 1000) x 5 secrets, after the store
#    answers: `secret put` of the shared secret minus `secret put` of an unused one (same
#    control-socket round trip and sealed write), against the 50 ms bar;
#  - lockboxd RSS with N targets vs with none, against the 16 MiB bar;
#  - wakeups while idle: context switches of lockboxd over 5 s.
# Usage: tests/bench/broker.sh BIN_DIR [N]
source "$(dirname "$0")/../integration/lib.sh" "$1"
need_root
N=${2:-1000}

targets=""
for i in $(seq 1 "$N"); do targets+="${targets:+,}\"t$i\":{\"binding\":\"b\",\"uid\":1000,\"gid\":1000}"; done
cat >"$CONF" <<JSON
{ "run_dir": "$T/run", "state_dir": "$T/state",
  "bindings": { "b": { "secrets": { "s1": "local:shared", "s2": "local:k2", "s3": "local:k3",
                                    "s4": "local:k4", "s5": "local:k5" },
                       "size": "64k", "grace": "1s", "refresh": "1h" } },
  "targets": { $targets } }
JSON
for k in shared k2 k3 k4 k5 unused; do put_secret "$k" "value-$k"; done

ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# Baseline RSS: the same broker with no targets.
sed 's/"targets": {.*} }$/"targets": {} }/' "$CONF" >"$T/empty.json"
"$LB_BIN/lockboxd" --config "$T/empty.json" 2>/dev/null &
p=$!
sleep 1
base_rss=$(rss_kib $p)
kill -TERM $p; wait $p || true
rm -f "$T/run/control.sock"

t0=$(ms)
start_broker
wait_for "all $N targets" 600 test -L "$T/run/t/t$N/..data"
t1=$(ms)
echo "startup with $N targets x 5 secrets (mount + first generation): $((t1 - t0)) ms"

best() { # CMD... -> best of 5 runs in ms
	local b=999999 s e
	for _ in 1 2 3 4 5; do
		s=$(ms); "$@" >/dev/null; e=$(ms)
		((e - s < b)) && b=$((e - s))
	done
	echo $b
}
put_unused() { printf 'u%s' "$RANDOM" | ctl secret put unused; }
put_shared() { printf 's%s' "$RANDOM" | ctl secret put shared; }
base=$(best put_unused)
rot=$(best put_shared)
[[ $(cat "$T/run/t/t$N/s1") == s* ]] || fail "rotation did not reach t$N"
echo "secret put, unused secret (baseline): ${base} ms"
echo "secret put, secret shared by $N targets: ${rot} ms"
echo "rotation cost for $N targets: $((rot - base)) ms (bar 50 ms: ratio $(awk -v a=$((rot - base)) 'BEGIN{printf "%.2f", a/50}'))"

rss=$(rss_kib "$BROKER_PID")
echo "lockboxd RSS: ${rss} KiB with $N targets, ${base_rss} KiB with none (ratio $(awk -v a="$rss" -v b="$base_rss" 'BEGIN{printf "%.2f", a/b}'); bar 16384 KiB: $(awk -v a="$rss" 'BEGIN{printf "%.2f", a/16384}'))"

sleep 2 # let the grace timers of the rotations above fire
cs() { awk '/ctxt_switches/{s+=$2} END{print s}' "/proc/$BROKER_PID/status"; }
c0=$(cs); sleep 5; c1=$(cs)
echo "idle wakeups over 5 s: $((c1 - c0))"

stop_broker

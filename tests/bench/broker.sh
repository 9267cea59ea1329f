#!/usr/bin/env bash
# Broker benchmarks: print numbers and ratios, assert nothing about time. For each N (default
# 100 and 1000; `tests/bench/broker.sh BIN_DIR 100 1000 10000` for the whole curve), static
# targets x 5 secrets on the sealed store, one secret shared by all:
#  - startup (mount + first generation of every target): wall time and lockboxd's CPU time;
#  - rotation of the shared secret after the store answers: `secret put` of it minus
#    `secret put` of an unused one (same control round trip and sealed write), best and
#    median of 5 wall, and lockboxd's CPU time until 0.5 s after the answer (from
#    /proc/PID/schedstat: on-CPU ns, which a loaded machine disturbs much less than wall
#    time), against the 25 ms goal / 50 ms bar;
#  - RSS with N targets against the same broker with none (the run's own baseline), and per
#    target;
#  - syscalls per target of one rotation (strace -c -f, when strace is there);
#  - wakeups while idle: context switches of lockboxd over 5 s.
# Then the curve as ratios against the smallest N of the run (linear = N ratio). Every line
# carries the load average (the host is shared: compare numbers of one run only).
# A/B: with LB_BENCH_OLD=OTHER_BIN_DIR each N runs both builds in turn (old, then new) and a
# last table gives new/old per measure.
# Usage: [LB_BENCH_OLD=BIN_DIR] tests/bench/broker.sh BIN_DIR [N...]
source "$(dirname "$0")/../integration/lib.sh" "$1"
need_root
shift
NS=("$@")
NEW_BIN=$LB_BIN
OLD_BIN=
[[ -n ${LB_BENCH_OLD:-} ]] && OLD_BIN=$(cd "$LB_BENCH_OLD" && pwd)
((${#NS[@]})) || NS=(100 1000)

ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
load() { cut -d' ' -f1 /proc/loadavg; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }

write_conf() { # N FILE
	local targets="" i
	for ((i = 1; i <= $1; i++)); do
		targets+="${targets:+,}\"t$i\":{\"binding\":\"b\",\"uid\":1000,\"gid\":1000}"
	done
	cat >"$2" <<JSON
{ "run_dir": "$T/run", "state_dir": "$T/state",
  "bindings": { "b": { "secrets": { "s1": "local:shared", "s2": "local:k2", "s3": "local:k3",
                                    "s4": "local:k4", "s5": "local:k5" },
                       "size": "64k", "grace": "1s", "refresh": "1h" } },
  "targets": { $targets } }
JSON
}

put_unused() { printf 'u%s' "$RANDOM" | ctl secret put unused; }
put_shared() { printf 's%s' "$RANDOM" | ctl secret put shared; }
# CMD... -> "best_wall_ms mean_cpu_us median_wall_ms" over 5 runs (CPU of lockboxd)
# Waits until lockboxd has been idle for longer than the grace (1 s), at most 120 s: the
# generation GC of earlier rotations runs in steps as their grace ends, and at 10,000
# targets it landed inside the next put's measurement (46 syscalls per target counted
# instead of 17).
wait_idle() {
	local deadline=$((SECONDS + 120)) c0
	while ((SECONDS < deadline)); do
		c0=$(cpu_ns "$BROKER_PID")
		sleep 1.2
		[[ $(cpu_ns "$BROKER_PID") == "$c0" ]] && return 0
	done
}
# lockboxd's CPU is read 0.5 s after the answer: after a split pass its state save runs right
# after the answer (part of the rotation's cost, not of its latency); the GC of the replaced
# generations (grace 1 s) is not counted.
measure() {
	local b=999999 s e c0 c1 cpu=0 walls=()
	for _ in 1 2 3 4 5; do
		wait_idle
		c0=$(cpu_ns "$BROKER_PID")
		s=$(ms)
		"$@" >/dev/null
		e=$(ms)
		walls+=($((e - s)))
		sleep 0.5
		c1=$(cpu_ns "$BROKER_PID")
		((e - s < b)) && b=$((e - s))
		cpu=$((cpu + (c1 - c0) / 1000))
	done
	echo "$b $((cpu / 5)) $(printf '%s\n' "${walls[@]}" | sort -n | sed -n 3p)"
}

# base_rss BIN: RSS of that build's lockboxd with no target (the run's own baseline).
declare -A BASE
base_rss() {
	write_conf 0 "$CONF"
	"$1/lockboxd" --config "$CONF" 2>/dev/null &
	BROKER_PID=$!
	wait_for "control socket" 10 test -S "$T/run/control.sock"
	for k in shared k2 k3 k4 k5 unused; do put_secret "$k" "value-$k"; done
	sleep 0.5
	BASE[$1]=$(rss_kib "$BROKER_PID")
	stop_broker
	echo "lockboxd RSS with no target (baseline of $1): ${BASE[$1]} KiB [load $(load)]"
}
# LB_BENCH_FLOOR=1: first the floor of the file work per target (tests/bench/publish_floor.c:
# today's sequence against a staged next generation, on N detached tmpfs mounts).
if [[ -n ${LB_BENCH_FLOOR:-} ]] && command -v cc >/dev/null &&
	cc -O2 -o "$T/publish_floor" "$(dirname "$0")/publish_floor.c"; then
	"$T/publish_floor" "${NS[-1]}" 5
fi
[[ -n $OLD_BIN ]] && base_rss "$OLD_BIN"
base_rss "$NEW_BIN"

declare -A R
# run_one KEY N: one broker of LB_BIN with N targets; R[KEY] gets its numbers.
run_one() {
	local key=$1 N=$2 t0 t1 scpu bw bc rw rc rss sys calls sp c0 c1 rot rot_cpu i tag
	local base_rss=${BASE[$LB_BIN]}
	tag="N=$N${OLD_BIN:+ ($key)}"
	write_conf "$N" "$CONF"
	rm -rf "$T/state/targets.json"
	t0=$(ms)
	# lockboxd listens once every target is mounted and published: with 10,000 targets on a
	# loaded host that is longer than start_broker's 10 s.
	"$LB_BIN/lockboxd" --config "$CONF" 2>>"$T/lockboxd.log" &
	BROKER_PID=$!
	wait_for "control socket" 1200 test -S "$T/run/control.sock"
	wait_for "all $N targets" 1200 test -L "$T/run/t/t$N/..data"
	t1=$(ms)
	scpu=$(($(cpu_ns "$BROKER_PID") / 1000000))
	read -r bw bc bm < <(measure put_unused)
	read -r rw rc rm < <(measure put_shared)
	[[ $(cat "$T/run/t/t$N/s1") == s* ]] || fail "rotation did not reach t$N"
	wait_idle # the heap is trimmed after the state save and GC that follow a split pass
	rss=$(rss_kib "$BROKER_PID")
	sys="-"
	if command -v strace >/dev/null; then
		# The generations the rotations above replaced are collected after their grace
		# (1 s): count one rotation alone, once lockboxd is idle.
		wait_idle
		strace -c -f -p "$BROKER_PID" -o "$T/strace.$N" &
		sp=$!
		sleep 0.5
		put_shared >/dev/null
		sleep 0.2
		kill -INT $sp
		wait $sp 2>/dev/null || true
		calls=$(awk '$NF == "total" {print $4}' "$T/strace.$N")
		[[ $calls =~ ^[0-9]+$ ]] && sys=$(awk -v c="$calls" -v n="$N" 'BEGIN{printf "%.1f", c/n}')
	fi
	rot=$((rw - bw))
	rot_cpu=$(((rc - bc) / 1000))
	echo "$tag startup: $((t1 - t0)) ms wall, ${scpu} ms lockboxd CPU [load $(load)]"
	echo "$tag rotation after the store answers: ${rot} ms wall (put ${rw} - baseline ${bw}; medians $rm - $bm = $((rm - bm))), ${rot_cpu} ms lockboxd CPU (goal 25: ratio $(ratio "$rot" 25), bar 50: ratio $(ratio "$rot" 50)) [load $(load)]"
	echo "$tag RSS: $rss KiB (baseline ratio $(ratio "$rss" "$base_rss"), $(((rss - base_rss) * 1024 / N)) B per target; bar 16384 KiB: ratio $(ratio "$rss" 16384)) [load $(load)]"
	echo "$tag syscalls per target in one rotation: $sys [load $(load)]"
	R[$key]="$((t1 - t0)) $scpu $rot $rot_cpu $((rss - base_rss)) $sys"
	if [[ $N == "${NS[-1]}" && $LB_BIN == "$NEW_BIN" ]]; then
		sleep 2 # let the grace timers of the rotations above fire
		cs() { awk '/ctxt_switches/{s+=$2} END{print s}' "/proc/$BROKER_PID/status"; }
		c0=$(cs)
		sleep 5
		c1=$(cs)
		echo "$tag idle wakeups over 5 s: $((c1 - c0)) [load $(load)]"
	fi
	stop_broker
	# The next N starts from fresh mounts.
	for ((i = 1; i <= N; i++)); do umount "$T/run/t/t$i" 2>/dev/null || true; done
	rm -rf "$T/run/t" "$T/state/targets.json"
}

for N in "${NS[@]}"; do
	if [[ -n $OLD_BIN ]]; then
		LB_BIN=$OLD_BIN run_one "old$N" "$N"
		LB_BIN=$NEW_BIN
	fi
	run_one "$N" "$N"
done

first=${NS[0]}
read -r s0 sc0 r0 rc0 m0 y0 <<<"${R[$first]}"
echo "cost curve against N=$first (linear: the N ratio; sys/target: flat) [load $(load)]"
printf '%8s %8s %10s %10s %10s %10s %10s %10s\n' N "N ratio" startup "start CPU" rotation "rot CPU" \
	"RSS-base" "sys/target"
for N in "${NS[@]}"; do
	read -r s sc r rc m y <<<"${R[$N]}"
	printf '%8s %8s %10s %10s %10s %10s %10s %10s\n' "$N" "$(ratio "$N" "$first")" "$(ratio "$s" "$s0")" \
		"$(ratio "$sc" "$sc0")" "$(ratio "$r" "$r0")" "$(ratio "$rc" "$rc0")" "$(ratio "$m" "$m0")" \
		"$(ratio "$y" "$y0")"
done
if [[ -n $OLD_BIN ]]; then
	echo "new ($NEW_BIN) / old ($OLD_BIN), same run (load $(load))"
	printf '%8s %10s %10s %10s %10s %10s %10s\n' N startup "start CPU" rotation "rot CPU" "RSS-base" "sys/target"
	for N in "${NS[@]}"; do
		read -r s sc r rc m y <<<"${R[$N]}"
		read -r os osc or orc om oy <<<"${R[old$N]}"
		printf '%8s %10s %10s %10s %10s %10s %10s\n' "$N" "$(ratio "$s" "$os")" "$(ratio "$sc" "$osc")" \
			"$(ratio "$r" "$or")" "$(ratio "$rc" "$orc")" "$(ratio "$m" "$om")" "$(ratio "$y" "$oy")"
	done
fi

#!/usr/bin/env bash
# Docker fan-out: one binding, N running containers (default 10 then 100) on a private dockerd
# with userns-remap, each `lockbox exec --wait db_password -- probe hup` (tests/bench/
# fanout_probe.c, which prints the CLOCK_REALTIME of every SIGHUP it gets). For each N, ROUNDS
# rotations of the binding's secret (`lockboxctl secret put` on the sealed store), each timed
# from just before the put:
#  - to the last ..data swap of the N tmpfs (an inotify watcher on the host), and to the last
#    SIGHUP received in a container (through dockerd's kill API and lockbox exec);
#  - minus the store's answer: the same put of a secret nobody uses (best of 3), as in
#    tests/bench/broker.sh, against the 20 ms (files) and 500 ms (signals) goals for 100;
#  - lockboxd's CPU per rotation (/proc/PID/schedstat, until it is idle again), the posture
#    checks it made (lockbox_posture_checks_total, cached vs parsed), and syscalls per
#    container of one more rotation (strace -c -f, when strace is there) with the top ones.
# Each round also puts the unused secret just before and prints the median of the rounds' last
# file minus that (the store's answer moves with the load from round to round).
# Then the ratios of the largest N against the smallest (linear: the N ratio). Prints only;
# asserts nothing about time. Usage: tests/bench/docker_fanout.sh BIN_DIR [N...]
# (env ROUNDS, default 3; PERF=1 adds a perf profile of one more rotation).
source "$(dirname "$0")/../docker/lib.sh" "$@" # all args: it may re-exec in a mount namespace
shift
NS=("$@")
((${#NS[@]})) || NS=(10 100)
ROUNDS=${ROUNDS:-3}

ns_now() { date +%s%N; }
cpu_ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
ms_of() { awk -v a="$1" 'BEGIN{printf "%.1f", a/1e6}'; }
idle() { # wait until lockboxd has used no CPU for 0.5 s (at most 60 s)
	local c0 deadline=$((SECONDS + 60))
	while ((SECONDS < deadline)); do
		c0=$(cpu_ns "$BROKER_PID")
		sleep 0.5
		[[ $(cpu_ns "$BROKER_PID") == "$c0" ]] && return 0
	done
}
checks() { ctl metrics | awk -v r="$1" '$1 == "lockbox_posture_checks_total{result=\""r"\"}" {print $2; f=1} END {if (!f) print 0}'; }

start_dockerd
img=$DK/fanimg
mkdir -p "$img/etc"
musl-gcc -static -Os -D_GNU_SOURCE -o "$img/probe" "$(dirname "$0")/fanout_probe.c"
cp "$LB_BIN/lockbox" "$img/lockbox"
printf 'root:x:0:0::/:/probe\napp:x:1000:1000::/:/probe\n' >"$img/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' >"$img/etc/group"
tar -C "$img" -cf "$DK/fanimg.tar" .
dk import "$DK/fanimg.tar" lbfan:1 >/dev/null
write_docker_config
put_secret web/db_password "fan-0"
put_secret unused "u"
start_broker

CIDS=()
start_containers() { # up to N running, 4 docker runs at a time
	local want=$1 i
	for ((i = ${#CIDS[@]}; i < want; i += 4)); do
		local j pids=()
		for ((j = i; j < i + 4 && j < want; j++)); do
			dk run -d --network none --user 1000 --cap-drop ALL --security-opt no-new-privileges \
				--mount "$(secret_mount web)" lbfan:1 \
				/lockbox exec --wait db_password --timeout 120s -- /probe hup 3600 >"$T/cid.$j" &
			pids+=($!)
		done
		wait "${pids[@]}" || fail "docker run failed"
		for ((j = i; j < i + 4 && j < want; j++)); do CIDS+=("$(cat "$T/cid.$j")"); done
	done
	local c deadline=$((SECONDS + 300))
	for c in "${CIDS[@]}"; do
		until dk logs "$c" 2>/dev/null | grep -q '^ready$'; do
			((SECONDS < deadline)) || fail "container ${c:0:12} not ready: $(dk logs "$c" 2>&1 | tail -2)"
			sleep 0.2
		done
	done
}

# Last SIGHUP time after T0 over all containers; K of them got one.
last_hup() { # T0 -> "K LAST_NS"
	local c k=0 last=0 t
	for c in "${CIDS[@]}"; do
		t=$(dk logs "$c" 2>/dev/null | awk -v t0="$1" '$1 == "hup" && $2 > t0 {print $2; exit}')
		[[ -n $t ]] || continue
		k=$((k + 1))
		((t > last)) && last=$t
	done
	echo "$k $last"
}

wait_hups() { # T0 -> hk (SIGHUPs seen since T0) and hlast (the last one's ns): all N, or 60 s
	local deadline=$((SECONDS + 60))
	while :; do
		read -r hk hlast <<<"$(last_hup "$1")"
		((hk == N || SECONDS > deadline)) && return
		sleep 0.5
	done
}
put_time() { # NAME VALUE -> ns the put took
	local s e
	s=$(ns_now)
	put_secret "$1" "$2"
	e=$(ns_now)
	echo $((e - s))
}

declare -A R
v=0
for N in "${NS[@]}"; do
	start_containers "$N"
	idle
	dirs=()
	for d in "$T"/run/t/@*; do dirs+=("$d"); done
	((${#dirs[@]} == N)) || fail "${#dirs[@]} targets for $N containers"
	base=999999999999
	for _ in 1 2 3; do
		b=$(put_time unused "u$RANDOM")
		((b < base)) && base=$b
	done
	best_f=999999999999 best_s=999999999999 best_raw=999999999999 cpu_sum=0
	p0=$(checks parsed) k0=$(checks cached)
	pairs=()
	for ((r = 1; r <= ROUNDS; r++)); do
		v=$((v + 1))
		u=$(put_time unused "u$RANDOM") # this round's store answer, just before
		"$DK/fanimg/probe" watch 60 "${dirs[@]}" >"$T/watch.out" &
		wp=$!
		until grep -q ready "$T/watch.out" 2>/dev/null; do sleep 0.05; done
		c0=$(cpu_ns "$BROKER_PID")
		t0=$(ns_now)
		put_secret web/db_password "fan-$v"
		wait "$wp" || echo "watcher: $(cat "$T/watch.out")"
		read -r _ seen _ _ _ ffirst _ flast <<<"$(tail -1 "$T/watch.out")"
		wait_hups "$t0"
		idle
		c1=$(cpu_ns "$BROKER_PID")
		f=$((flast - t0 - base)) s=$((hlast - t0 - base))
		((f < best_f)) && best_f=$f
		((flast - t0 < best_raw)) && best_raw=$((flast - t0))
		((s < best_s)) && best_s=$s
		cpu_sum=$((cpu_sum + c1 - c0))
		pairs+=($((flast - t0 - u)))
		echo "N=$N round $r: files $seen/$N, last swap $(ms_of $((flast - t0))) ms after the put began, $(ms_of "$f") after the store answered, first to last $(ms_of $((flast - ffirst))) ms; SIGHUP $hk/$N, last $(ms_of "$s") ms after the store answered; lockboxd CPU $(ms_of $((c1 - c0))) ms"
	done
	p1=$(checks parsed) k1=$(checks cached)
	cpu=$((cpu_sum / ROUNDS))
	sys="-" top=""
	if command -v strace >/dev/null; then
		strace -c -f -p "$BROKER_PID" -o "$T/strace.$N" &
		sp=$!
		sleep 0.5
		v=$((v + 1))
		t0=$(ns_now)
		put_secret web/db_password "fan-$v"
		wait_hups "$t0"
		idle
		kill -INT $sp
		wait $sp 2>/dev/null || true
		calls=$(awk '$NF == "total" {print $4}' "$T/strace.$N")
		[[ $calls =~ ^[0-9]+$ ]] && sys=$(awk -v c="$calls" -v n="$N" 'BEGIN{printf "%.1f", c/n}')
		top=$(awk -v n="$N" '$1 ~ /^[0-9.]+$/ && $NF != "total" && NR <= 14 {printf "%s %.1f, ", $NF, $4 / n}' "$T/strace.$N")
	fi
	echo "N=$N store answer (put of an unused secret, best of 3): $(ms_of "$base") ms"
	echo "N=$N best of $ROUNDS: last file $(ms_of "$best_f") ms (goal for 100: 20), last SIGHUP $(ms_of "$best_s") ms (goal for 100: 500); lockboxd CPU per rotation $(ms_of "$cpu") ms"
	echo "N=$N last file minus the same round's store answer, median of $ROUNDS: $(ms_of "$(printf '%s\n' "${pairs[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')") ms"
	echo "N=$N posture checks in $ROUNDS rotations: $((k1 - k0)) from kept facts, $((p1 - p0)) parsed /proc"
	echo "N=$N syscalls per container in one rotation: $sys${top:+ (per container: ${top%, })}"
	if [[ -n ${PERF:-} ]] && command -v perf >/dev/null; then
		# Where lockboxd's CPU goes in one more rotation (cpu-clock samples, call graphs).
		perf record -q -e cpu-clock -F 10000 -g -p "$BROKER_PID" -o "$T/perf.$N" 2>/dev/null &
		pp=$!
		sleep 0.5
		for _ in 1 2 3; do
			v=$((v + 1))
			put_secret web/db_password "fan-$v"
			sleep 1
			idle
		done
		kill -INT $pp
		wait $pp 2>/dev/null || true
		echo "N=$N perf (lockboxd, three rotations, self time):"
		perf report -i "$T/perf.$N" --stdio --no-children --sort dso,sym >"$T/perf.$N.txt" 2>&1 || true
		grep -E '^ +[0-9.]+%' "$T/perf.$N.txt" | head -30 || head -5 "$T/perf.$N.txt"
		echo "N=$N perf (lockboxd's own functions, with what they call):"
		perf report -i "$T/perf.$N" --stdio --children --sort sym -g none >"$T/perf.$N.children" 2>&1 || true
		grep -E '^ +[0-9.]+% +[0-9.]+% +\[\.\] +(lb_|dk_|apply_|gate|cached_|refresh|publish|audit)' "$T/perf.$N.children" | head -30 || true
	fi
	R[$N]="$best_raw $best_s $cpu"
done

first=${NS[0]}
read -r f0 s0 c0 <<<"${R[$first]}"
echo "against N=$first (linear: the N ratio; last file counted from the put, store included)"
printf '%8s %8s %12s %12s %12s\n' N "N ratio" "last file" "last SIGHUP" "CPU"
for N in "${NS[@]}"; do
	read -r f s c <<<"${R[$N]}"
	printf '%8s %8s %12s %12s %12s\n' "$N" "$(ratio "$N" "$first")" "$(ratio "$f" "$f0")" "$(ratio "$s" "$s0")" "$(ratio "$c" "$c0")"
done
stop_broker

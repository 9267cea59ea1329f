#!/bin/bash
# Client size and overhead: `lockbox exec -- true` against `true` (issue 19: <= 1.25x), tini-static
# and dumb-init, `lockbox get` against `cat`. Prints numbers and ratios; asserts nothing about time.
# Needs root (a tmpfs for the layout `exec` and `get` check). Installs nothing.
#
# The host is shared and its load moves within seconds, so nothing is timed in blocks of one kind:
#  - wall: ROUNDS rounds; each round runs every variant once, in an order that rotates from round
#    to round (ABAB...), each run timed alone ($EPOCHREALTIME, no extra process). Per variant:
#    median and p10-p90; the ratio to `true` is the median of the per-round ratios (each pair
#    ran seconds apart at most, under the same load).
#  - CPU: `perf stat` (task-clock of the command and its children from execve to exit, context
#    switches, page faults) in BLOCKS blocks of 20 runs, variants interleaved block by block;
#    median and p10-p90 of the block means, and the ratios of the medians and of the p10s
#    (other work on the host only adds time, so the low quantile is the nearer to the cost on
#    an idle host; perf prints task-clock in steps of 10 us). CPU time is what the client
#    costs; wall time adds the wakeups of a second process, which a loaded host makes dearer.
#  - spawned by runab.c (built with cc): the same rounds from a small C driver with posix_spawn,
#    not bash's fork (bash is big: its fork is most of what `true` costs from a shell), and
#    CPU from wait4's rusage (command and descendants, microseconds). The strictest ratio.
#  - syscalls: `strace -f -c` of one run each (all processes), and what `exec` adds to `true`.
# `exec` (not PID 1) becomes its command with execve: one process. `exec-init` (--init) is the
# init that stays beside it, as `exec` does as PID 1 (a container's entrypoint).
# `spawn-floor` (tests/bench/spawn_floor.c, built with musl-gcc and the client's layout flags when
# musl-gcc is there: two segments, not four) only starts its command with clone(CLONE_VM|
# CLONE_VFORK) and waits: the cost of being a second process at all, the floor of exec-init.
# With LB_BENCH_OLD=OTHER_LOCKBOX the old client runs as one more variant of the same rounds.
# usage: [LB_BENCH_OLD=BIN] tests/bench/client.sh [build/bin/lockbox] [ROUNDS] [BLOCKS]
set -u
LOCKBOX=${1:-build/bin/lockbox}
ROUNDS=${2:-400}
BLOCKS=${3:-20}
TINI=/usr/bin/tini-static
DUMB=/usr/bin/dumb-init
OLD=${LB_BENCH_OLD:-}
TRUE=/bin/true

[ -x "$LOCKBOX" ] || { echo "no client at $LOCKBOX (build first)"; exit 1; }
[ -z "$OLD" ] || [ -x "$OLD" ] || { echo "LB_BENCH_OLD=$OLD: not an executable"; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== size"
lb=$(stat -c %s "$LOCKBOX")
printf '%-14s %8d bytes\n' lockbox "$lb"
for b in "$TINI" "$DUMB"; do
	if [ -x "$b" ]; then
		s=$(stat -c %s "$b")
		printf '%-14s %8d bytes   lockbox/%s = %s\n' "${b##*/}" "$s" "${b##*/}" "$(ratio "$lb" "$s")"
	else
		echo "${b##*/}: not installed (apt-get install tini dumb-init)"
	fi
done

T=$(mktemp -d /tmp/lockbox-bench.XXXXXX)
cleanup() { umount "$T/d" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
mkdir "$T/d"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o mode=0755 tmpfs "$T/d"; then
	echo "(not root: the exec and get timings need a tmpfs layout; skipped)"
	exit 0
fi
mkdir -m 0755 "$T/d/..gen-1"
printf 'bench-secret' >"$T/d/..gen-1/db_password"
chmod 0400 "$T/d/..gen-1/db_password"
printf '{"generation":1,"written_at":%s,"secrets":{"db_password":{"version":"1","not_after":%s}}}' \
	"$(date +%s)" $(($(date +%s) + 3600)) >"$T/d/..gen-1/.manifest.json"
chmod 0444 "$T/d/..gen-1/.manifest.json"
ln -s ..gen-1 "$T/d/..data"
ln -s ..data/db_password "$T/d/db_password"
mount -o remount,ro "$T/d"
DIR=$T/d

FLOOR=
if command -v musl-gcc >/dev/null &&
	musl-gcc -static -Os -s -Wl,--gc-sections -Wl,-z,relro,-z,now -Wl,--build-id=none \
		-Wl,-z,noseparate-code -D_GNU_SOURCE -o "$T/spawn_floor" "$(dirname "$0")/spawn_floor.c"; then
	FLOOR=$T/spawn_floor
fi
RUNAB=
if command -v cc >/dev/null && cc -O2 -o "$T/runab" "$(dirname "$0")/runab.c"; then
	RUNAB=$T/runab
fi

# The variants: a name, then the command (stdout and stderr go to /dev/null for all alike).
VARIANTS=(true exec exec-init)
cmd_of() {
	case $1 in
	true) echo "$TRUE" ;;
	exec) echo "$LOCKBOX exec --dir $DIR -- $TRUE" ;;
	exec-init) echo "$LOCKBOX exec --init --dir $DIR -- $TRUE" ;;
	exec-old) echo "$OLD exec --dir $DIR -- $TRUE" ;;
	spawn-floor) echo "$FLOOR $TRUE" ;;
	tini) echo "$TINI -s -- $TRUE" ;;
	dumb-init) echo "$DUMB $TRUE" ;;
	get) echo "$LOCKBOX get db_password --dir $DIR" ;;
	cat) echo "/bin/cat $DIR/db_password" ;;
	esac
}
[ -n "$OLD" ] && VARIANTS+=(exec-old)
[ -n "$FLOOR" ] && VARIANTS+=(spawn-floor)
[ -x "$TINI" ] && VARIANTS+=(tini)
[ -x "$DUMB" ] && VARIANTS+=(dumb-init)
VARIANTS+=(get cat)
NV=${#VARIANTS[@]}
declare -A CMD
for v in "${VARIANTS[@]}"; do
	CMD[$v]=$(cmd_of "$v")
	# shellcheck disable=SC2086 # the command is words without quoting needs (paths of mktemp)
	${CMD[$v]} >/dev/null 2>&1 || { echo "variant $v fails: ${CMD[$v]}"; exit 1; }
done
declare -A BASE_OF=([exec]=true [exec-init]=true [exec-old]=true [spawn-floor]=true [tini]=true
	[dumb-init]=true [get]=cat)

echo "== wall: $ROUNDS rounds of ${NV} variants, order rotating each round (load $(load))"
declare -A US # US[variant]="us us us ..." in round order
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < NV; k++)); do
		v=${VARIANTS[$(((r + k) % NV))]}
		t0=$EPOCHREALTIME
		# shellcheck disable=SC2086
		${CMD[$v]} >/dev/null 2>&1
		t1=$EPOCHREALTIME
		US[$v]+=" $((10#${t1/./} - 10#${t0/./}))"
	done
done
# median p10 p90 of a list of numbers
stats() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1}
	END { printf "%d %d %d", a[int((NR + 1) / 2)], a[int(NR * 0.1) + 1], a[int(NR * 0.9)] }'; }
# median of the per-round ratios A_i / B_i
paired() { paste -d' ' <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) |
	awk '$2 > 0 { print $1 / $2 }' | sort -g | awk '{a[NR] = $1} END { printf "%.2f", a[int((NR + 1) / 2)] }'; }
printf '%-12s %9s %9s %9s  %s\n' variant median p10 p90 "ratio (median of per-round ratios)"
for v in "${VARIANTS[@]}"; do
	read -r med p10 p90 < <(stats <<<"${US[$v]}")
	b=${BASE_OF[$v]:-}
	printf '%-12s %7d us %6d us %6d us' "$v" "$med" "$p10" "$p90"
	[ -n "$b" ] && printf '  /%s = %s' "$b" "$(paired "${US[$v]}" "${US[$b]}")"
	[ "$v" = exec-init ] && [ -n "$FLOOR" ] && printf '  /spawn-floor = %s' "$(paired "${US[exec-init]}" "${US[spawn-floor]}")"
	[ "$v" = exec ] && [ -n "$OLD" ] && printf '  /exec-old = %s' "$(paired "${US[exec]}" "${US[exec-old]}")"
	echo
done
echo "(load after: $(load))"

if [ -n "$RUNAB" ]; then
	echo "== spawned by runab.c: $ROUNDS rounds, posix_spawn, CPU from wait4 (load $(load))"
	printf '%-12s %23s %23s  %s\n' variant "wall median p10 p90" "CPU median p10 p90" \
		"median of per-round ratios (wall, CPU)"
	declare -A RW RC
	# runab_group BASE VARIANT...: one row per variant, ratios to BASE (which ran beside it)
	runab_group() {
		local names=("$@") args=() words v k wm wlo whi cm clo chi rw rc
		for v in "$@"; do
			((${#args[@]})) && args+=("::")
			read -ra words <<<"${CMD[$v]}"
			args+=("${words[@]}")
		done
		while read -r k wm wlo whi cm clo chi rw rc; do
			v=${names[$k]}
			RW[$v]=$wm RC[$v]=$cm
			printf '%-12s %7d %6d %6d us %7d %6d %6d us' "$v" "$wm" "$wlo" "$whi" "$cm" "$clo" "$chi"
			((k)) && printf '  /%s = %s, %s' "${names[0]}" "$rw" "$rc"
			echo
		done < <("$RUNAB" "$ROUNDS" "${args[@]}")
	}
	group=()
	for v in "${VARIANTS[@]}"; do [ "${BASE_OF[$v]:-}" = true ] && group+=("$v"); done
	runab_group true "${group[@]}"
	runab_group cat get
	[ -n "$FLOOR" ] && printf 'exec-init/spawn-floor (medians): wall %s, CPU %s\n' \
		"$(ratio "${RW[exec-init]}" "${RW[spawn-floor]}")" "$(ratio "${RC[exec-init]}" "${RC[spawn-floor]}")"
	[ -n "$OLD" ] && printf 'exec/exec-old (medians): wall %s, CPU %s\n' \
		"$(ratio "${RW[exec]}" "${RW[exec-old]}")" "$(ratio "${RC[exec]}" "${RC[exec-old]}")"
	echo "(load after: $(load))"
fi

if command -v perf >/dev/null && perf stat -e task-clock -o /dev/null "$TRUE" 2>/dev/null; then
	echo "== CPU: perf stat, $BLOCKS blocks x 20 runs per variant, interleaved (load $(load))"
	declare -A TC CS PF
	for ((bk = 0; bk < BLOCKS; bk++)); do
		for ((k = 0; k < NV; k++)); do
			v=${VARIANTS[$(((bk + k) % NV))]}
			# shellcheck disable=SC2086
			perf stat -x, -o "$T/perf" -e task-clock,context-switches,page-faults -r 20 \
				${CMD[$v]} >/dev/null 2>&1
			TC[$v]+=" $(awk -F, '$3 == "task-clock" { printf "%d", $1 * 1000 }' "$T/perf")"
			CS[$v]+=" $(awk -F, '$3 == "context-switches" { print $1 }' "$T/perf")"
			PF[$v]+=" $(awk -F, '$3 == "page-faults" { print $1 }' "$T/perf")"
		done
	done
	# cpu_ratio A B: ratio of A's and B's median task-clock, then of their p10s
	cpu_ratio() {
		local am ap bm bp
		read -r am ap _ < <(stats <<<"${TC[$1]}")
		read -r bm bp _ < <(stats <<<"${TC[$2]}")
		printf '  /%s = %s (p10 %s)' "$2" "$(ratio "$am" "$bm")" "$(ratio "$ap" "$bp")"
	}
	printf '%-12s %14s %6s %6s %7s %7s  %s\n' variant "task-clock" p10 p90 ctx-sw faults \
		"ratios of task-clock medians (of p10s)"
	for v in "${VARIANTS[@]}"; do
		read -r tc lo hi < <(stats <<<"${TC[$v]}")
		read -r cs _ _ < <(stats <<<"${CS[$v]}")
		read -r pf _ _ < <(stats <<<"${PF[$v]}")
		b=${BASE_OF[$v]:-}
		printf '%-12s %11d us %6d %6d %7d %7d' "$v" "$tc" "$lo" "$hi" "$cs" "$pf"
		[ -n "$b" ] && cpu_ratio "$v" "$b"
		[ "$v" = exec-init ] && [ -n "$FLOOR" ] && cpu_ratio exec-init spawn-floor
		[ "$v" = exec ] && [ -n "$OLD" ] && cpu_ratio exec exec-old
		echo
	done
	echo "(load after: $(load))"
else
	echo "== CPU: perf not there or not allowed (perf_event_paranoid); skipped"
fi

if command -v strace >/dev/null; then
	echo "== syscalls: strace -f -c, one run, every process"
	declare -A SC
	for v in "${VARIANTS[@]}"; do
		# shellcheck disable=SC2086
		strace -f -c -o "$T/strace" ${CMD[$v]} >/dev/null 2>&1
		SC[$v]=$(awk '$NF == "total" { print $4 }' "$T/strace")
		b=${BASE_OF[$v]:-}
		printf '%-12s %5d calls' "$v" "${SC[$v]:-0}"
		[ -n "$b" ] && [ -n "${SC[$b]:-}" ] && printf '  (+%d over %s)' $((SC[$v] - SC[$b])) "$b"
		echo
	done
	# shellcheck disable=SC2086
	strace -f -qq -o "$T/strace" ${CMD[exec]} >/dev/null 2>&1
	echo "exec's own syscalls (up to the execve of its command, in its process or a child's):"
	awk '{ pid = $1; name = $2; sub(/\(.*/, "", name); first = first ? first : pid }
		name ~ /^(<|\+\+\+|---)/ { next }
		gone[pid] { next }
		name == "execve" && (pid != first || ++execs[pid] == 2) { gone[pid] = 1 }
		{ c[name]++; n++ }
		END { for (s in c) printf "%s x%d\n", s, c[s]; printf "(%d in all)\n", n }' "$T/strace" |
		sort | paste -sd' ' | fold -s -w 100 | sed 's/^/  /'
else
	echo "== syscalls: strace not there; skipped"
fi

#!/usr/bin/env bash
# `docker run --rm` of the same image with a lockbox volume and the secret ready for the app
# (`lockbox exec --wait db_password`) vs a plain run, interleaved, on a private dockerd with
# userns-remap. Prints the medians and their ratio (goal <= 1.02, bar <= 1.05); asserts nothing
# about time. With OTHER_BIN_DIR, a second lockboxd from there serves a second driver on the
# same dockerd and its runs are interleaved too (an A/B of two builds under the same load).
# LOCAL_VOLUME=1 adds runs with an anonymous volume of dockerd's own local driver at the same
# place: what any volume costs, without lockbox (dockerd's volume records, copy-up check).
# Usage: [LOCAL_VOLUME=1] tests/bench/docker.sh BIN_DIR [RUNS] [OTHER_BIN_DIR]
source "$(dirname "$0")/../docker/lib.sh" "$@" # all args: it may re-exec in a mount namespace
RUNS=${2:-20}
OTHER=${3:-}

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "bench-value"
start_broker
kinds="plain lockbox"
if [[ -n $OTHER ]]; then
	OTHER=$(cd "$OTHER" && pwd)
	[[ -x $OTHER/lockboxd ]] || fail "no lockboxd in $OTHER"
	CONF_B=$T/lockbox-b.json DRIVER_B=$DRIVER-b
	jq --arg r "$T/run-b" --arg s "$T/state-b" --arg p "/run/docker/plugins/$DRIVER_B.sock" \
		'.run_dir = $r | .state_dir = $s | .docker.plugin_socket = $p' "$CONF" >"$CONF_B"
	printf 'bench-value' | "$OTHER/lockboxctl" --config "$CONF_B" secret put web/db_password >/dev/null
	"$OTHER/lockboxd" --config "$CONF_B" 2>>"$T/lockboxd-b.log" &
	BROKER_B_PID=$!
	wait_for "control socket of the other lockboxd" 10 test -S "$T/run-b/control.sock"
	kinds="plain lockbox other"
fi

[[ ${LOCAL_VOLUME:-} == 1 ]] && kinds="$kinds local"

ms() { echo $(($(date +%s%N) / 1000000)); }
run_plain() { dk run --rm --network none --user 1000 lbtest:1 /app --seconds 0 >/dev/null; }
run_with() { # DRIVER
	dk run --rm --network none --user 1000 \
		--mount "type=volume,volume-driver=$1,dst=/run/secrets,volume-opt=binding=web" lbtest:1 \
		/lockbox exec --wait db_password -- /app --seconds 0 /run/secrets/db_password >/dev/null
}
run_local() {
	dk run --rm --network none --user 1000 --mount type=volume,dst=/run/secrets lbtest:1 \
		/app --seconds 0 >/dev/null
}
run_lockbox() { run_with "$DRIVER"; }
run_other() { run_with "$DRIVER_B"; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }
# The median of the differences A - B within each round (rounds run back to back: slow
# stretches of the shared machine hit both): steadier than the difference of the medians.
paired() { paste "$T/$1" "$T/$2" | awk '{print $1 - $2}' | median; }
for k in $kinds; do "run_$k"; : >"$T/$k"; done # warm up
for i in $(seq "$RUNS"); do
	# Interleaved, rotating which goes first, so that load on this shared machine hits all
	# alike.
	# shellcheck disable=SC2086 # one word per kind
	set -- $kinds
	for _ in $(seq $((i % $#))); do set -- "${@:2}" "$1"; done
	for which in "$@"; do
		s=$(ms); "run_$which"; e=$(ms)
		echo $((e - s)) >>"$T/$which"
	done
done
p=$(median <"$T/plain") l=$(median <"$T/lockbox")
early=$(grep -c '"reason":"mount"' "$T/state/audit.jsonl" || true)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "docker run --rm, median of $RUNS: without lockbox $p ms, with a lockbox volume and exec --wait $l ms"
echo "populated at Mount (before start): $early of $((RUNS + 1)) runs"
echo "ratio: $(ratio "$l" "$p") (goal 1.02, bar 1.05); per round: lockbox - plain = $(paired lockbox plain) ms median"
if [[ ${LOCAL_VOLUME:-} == 1 ]]; then
	v=$(median <"$T/local")
	echo "with a local-driver volume (no lockbox): $v ms, ratio $(ratio "$v" "$p"); per round: local - plain = $(paired local plain) ms, lockbox - local = $(paired lockbox local) ms median"
fi
if [[ -n $OTHER ]]; then
	o=$(median <"$T/other")
	early=$(grep -c '"reason":"mount"' "$T/state-b/audit.jsonl" || true)
	echo "other lockboxd ($OTHER): $o ms, ratio $(ratio "$o" "$p"); populated at Mount: $early of $((RUNS + 1)) runs"
	echo "this/other: $(ratio "$l" "$o"); per round: this - other = $(paired lockbox other) ms median"
	kill -TERM "$BROKER_B_PID" && wait "$BROKER_B_PID" || true
fi
stop_broker

#!/usr/bin/env bash
# `docker run --rm` of the same image with a lockbox volume and the secret ready for the app
# (`lockbox exec --wait db_password`) vs a plain run, interleaved, on a private dockerd with
# userns-remap. Prints the medians and their ratio (goal <= 1.02, bar <= 1.05); asserts nothing
# about time. Usage: tests/bench/docker.sh BIN_DIR [RUNS]
source "$(dirname "$0")/../docker/lib.sh" "$@" # all args: it may re-exec in a mount namespace
RUNS=${2:-20}

start_dockerd
build_image lbtest:1
write_docker_config
put_secret web/db_password "bench-value"
start_broker

ms() { echo $(($(date +%s%N) / 1000000)); }
run_plain() { dk run --rm --network none --user 1000 lbtest:1 /app --seconds 0 >/dev/null; }
run_lockbox() {
	dk run --rm --network none --user 1000 --mount "$(secret_mount web)" lbtest:1 \
		/lockbox exec --wait db_password -- /app --seconds 0 /run/secrets/db_password >/dev/null
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
run_plain; run_lockbox # warm up
: >"$T/plain" && : >"$T/lockbox"
for i in $(seq "$RUNS"); do
	# Interleaved, alternating which goes first, so that load on this shared machine hits
	# both alike.
	for which in $( ((i % 2)) && echo plain lockbox || echo lockbox plain); do
		s=$(ms); "run_$which"; e=$(ms)
		echo $((e - s)) >>"$T/$which"
	done
done
p=$(median <"$T/plain") l=$(median <"$T/lockbox")
early=$(grep -c '"reason":"mount"' "$T/state/audit.jsonl" || true)
echo "docker run --rm, median of $RUNS: without lockbox $p ms, with a lockbox volume and exec --wait $l ms"
echo "populated at Mount (before start): $early of $((RUNS + 1)) runs"
echo "ratio: $(awk -v a="$l" -v b="$p" 'BEGIN{printf "%.3f", a/b}') (goal 1.02, bar 1.05)"
stop_broker

#!/usr/bin/env bash
# `docker run --rm` of the same image with a lockbox volume vs without (bar: <= 1.05x),
# both measured in this run on a private dockerd with userns-remap. Prints numbers and the
# ratio; asserts nothing about time. Usage: tests/bench/docker.sh BIN_DIR [RUNS]
source "$(dirname "$0")/../docker/lib.sh" "$1"
RUNS=${2:-10}

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
run_plain; run_lockbox # warm up
plain=0 lockbox=0
for _ in $(seq "$RUNS"); do
	# Interleaved, so that load on this shared machine hits both alike.
	s=$(ms); run_plain; e=$(ms); plain=$((plain + e - s))
	s=$(ms); run_lockbox; e=$(ms); lockbox=$((lockbox + e - s))
done
echo "docker run --rm, mean of $RUNS: without lockbox $((plain / RUNS)) ms, with a lockbox volume $((lockbox / RUNS)) ms"
echo "ratio: $(awk -v a=$lockbox -v b=$plain 'BEGIN{printf "%.3f", a/b}') (bar 1.05)"
stop_broker

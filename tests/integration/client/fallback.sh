#!/bin/bash
# Without openat2 (seccomp makes it ENOSYS) the client falls back to O_NOFOLLOW opens with at
# most one single-component symlink (..data -> ..gen-N); the same layouts pass and fail.
. "$(dirname "$0")/lib.sh"
NO_OPENAT2=${2:?usage: $0 lockbox no_openat2}
need_root
[ "$(uname -m)" = x86_64 ] || skip "the seccomp filter is written for x86_64"
"$NO_OPENAT2" --self-test || skip "cannot install a seccomp filter"

exp=$(($(now) + 3600))
lb_gen 1 db_password 'fallback' 0 0 0400 "$exp"
ln -s /etc/passwd "$W/..gen-1/leak"
python3 - "$W/..gen-1/.manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["secrets"]["leak"] = {"version": "1"}
open(sys.argv[1], "w").write(json.dumps(m))
PY
lb_publish 1
LOCKBOX_REAL=$LOCKBOX
LOCKBOX=$T/bin/lockbox-no-openat2 # $T/bin allows exec, /tmp may not
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$NO_OPENAT2" "$LOCKBOX_REAL" >"$LOCKBOX"
chmod +x "$LOCKBOX"

run_lb 0 "get without openat2" get db_password --dir "$D" && expect_out fallback "fallback get"
run_lb 77 "symlink in the generation, fallback" get leak --dir "$D"
expect_err "beneath check failed on $D/..data/leak" "fallback symlink"

mkdir "$T/outside"
mount -t tmpfs -o mode=0755 tmpfs "$T/outside"
mkdir -m 0755 "$T/outside/..gen-1"
cp -a "$W/..gen-1/db_password" "$W/..gen-1/.manifest.json" "$T/outside/..gen-1/"
for target in "$T/outside/..gen-1" "../outside/..gen-1" "..gen-1/../../outside/..gen-1"; do
	ln -sfn "$target" "$W/..data"
	run_lb 77 "fallback: ..data -> $target" get db_password --dir "$D"
	expect_err "beneath check failed on $D/..data: resolves outside the directory" "fallback escape $target"
done
# A chain of links is not followed either.
ln -sfn ..gen-1 "$W/..chain"
ln -sfn ..chain "$W/..data"
run_lb 77 "fallback: ..data -> ..chain -> ..gen-1" get db_password --dir "$D"
expect_err "beneath check failed on $D/..data" "fallback chain"
ln -sfn ..gen-1 "$W/..data"
run_lb 0 "fallback: layout restored" get db_password --dir "$D"

lb_finish

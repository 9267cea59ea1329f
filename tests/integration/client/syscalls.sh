#!/bin/bash
# What the client asks of the kernel, seen with strace -f -y (fds shown with their paths):
#  - the manifest is read with one read(2), whatever its size up to LB_MANIFEST_MAX (the size
#    fstat gave + 1 is asked for; no second read for the end of the file), and read whole at
#    the edges of the 1 KiB inline buffer and of the cap;
#  - exec --wait NAME opens each secret once (the wait's check and exec's own check of every
#    secret were two opens of the --wait names).
# Prints strace -c -f of `exec --wait` for the record; asserts counts, never time.
. "$(dirname "$0")/lib.sh"
need_root
command -v strace >/dev/null || skip "strace not installed"

exp=$(($(now) + 3600))
MAX=262144 # LB_MANIFEST_MAX

# trace NAME ARGS...: runs the client under strace, the log in $T/NAME.trace; sets RC.
trace() {
	local name=$1
	shift
	strace -f -y -qq -o "$T/$name.trace" -e trace=read,openat,openat2,execve \
		"$LOCKBOX" "$@" >"$T/$name.out" 2>"$T/$name.err"
	RC=$?
}
# count NAME REGEX: lines of the trace that match.
count() { grep -cE "$2" "$T/$1.trace"; }

lb_gen 1 db_password 'v1' 0 0 0400 "$exp" api_key 'k1' 0 0 0400 none
lb_publish 1

# pad GEN BYTES: the manifest of ..gen-GEN padded with trailing blanks (valid JSON) to BYTES.
pad() {
	local f=$W/..gen-$1/.manifest.json size
	chmod 0644 "$f"
	size=$(stat -c %s "$f")
	head -c $(($2 - size)) /dev/zero | tr '\0' ' ' >>"$f"
	chmod 0444 "$f"
	[ "$(stat -c %s "$f")" = "$2" ] || fail "manifest of ..gen-$1 is not $2 bytes"
}

for bytes in 0 1023 1024 1025 4096 $MAX; do
	lb_reset
	lb_gen 1 db_password 'v1' 0 0 0400 "$exp" api_key 'k1' 0 0 0400 none
	[ "$bytes" = 0 ] || pad 1 "$bytes"
	lb_publish 1
	size=$(stat -c %s "$W/..gen-1/.manifest.json")
	trace check check --dir "$D"
	reads=$(count check 'read\([0-9]+<[^>]*\.manifest\.json>')
	if [ "$RC" = 0 ] && [ "$reads" = 1 ]; then
		pass "a manifest of $size bytes: one read"
	else
		fail "a manifest of $size bytes: exit $RC, $reads reads: $(grep -E 'manifest' "$T/check.trace")"
	fi
done
# Over the cap: refused from fstat's size, before any read.
lb_reset
lb_gen 1 db_password 'v1' 0 0 0400 "$exp"
pad 1 $((MAX + 1))
lb_publish 1
trace big get db_password --dir "$D"
reads=$(count big 'read\([0-9]+<[^>]*\.manifest\.json>')
if [ "$RC" = 65 ] && [ "$reads" = 0 ] && grep -q "larger than $MAX bytes" "$T/big.err"; then
	pass "a manifest over the cap: refused without reading it"
else
	fail "a manifest over the cap: exit $RC, $reads reads, stderr $(cat "$T/big.err")"
fi

# exec --wait: every secret opened once before CMD, the --wait names too.
lb_reset
lb_gen 1 db_password 'v1' 0 0 0400 "$exp" api_key 'k1' 0 0 0400 none
lb_publish 1
# shellcheck disable=SC2016 # expanded by the inner shell
trace wait exec --dir "$D" --wait db_password --timeout 5s -- /bin/sh -c 'cat "$DB_PASSWORD_FILE"'
[ "$RC" = 0 ] && [ "$(cat "$T/wait.out")" = v1 ] && pass "exec --wait runs CMD" ||
	fail "exec --wait: exit $RC $(cat "$T/wait.err")"
# Up to CMD's execve (the client's own opens; cat opens the file once more through the link).
awk '/execve\(/ && ++n == 2 { exit } { print }' "$T/wait.trace" >"$T/client.trace"
for name in db_password api_key; do
	opens=$(count client "openat2?\([^\"]*\"$name\"")
	[ "$opens" = 1 ] && pass "exec --wait opens $name once" ||
		fail "exec --wait opens $name $opens times: $(grep -E "\"$name\"" "$T/client.trace")"
done
reads=$(count client 'read\([0-9]+<[^>]*\.manifest\.json>')
[ "$reads" = 1 ] && pass "exec --wait reads the manifest once" || fail "exec --wait: $reads manifest reads"

echo "strace -f -c of exec --wait db_password -- /bin/true (the client and true):"
strace -f -c -o "$T/c" "$LOCKBOX" exec --dir "$D" --wait db_password -- /bin/true
awk '$NF == "total" { print "  " $4 " calls" }' "$T/c"
lb_finish

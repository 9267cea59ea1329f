#!/bin/bash
# A reader as uid 1000 inside a user namespace whose uid 1000 is host uid 100000 (the
# userns-remap case): it reads a file owned by host uid 100000, while D, owned by host root,
# shows up as the overflow uid.
. "$(dirname "$0")/lib.sh"
need_root
unshare --user true 2>/dev/null || skip "cannot create a user namespace"
command -v python3 >/dev/null || skip "needs python3"

HOST_UID=100000
exp=$(($(now) + 3600))
lb_gen 1 db_password 'remapped' $HOST_UID $HOST_UID 0400 "$exp" \
	neighbour 'not yours' $((HOST_UID + 1)) $((HOST_UID + 1)) 0444 "$exp"
lb_publish 1

# in_userns OUTFILE CMD...: runs CMD as uid/gid 1000 in a new user namespace mapping
# 1000 -> $HOST_UID (written from outside, as a runtime does), prints its exit code.
# Host root stays unmapped, as under userns-remap. The switch to uid 1000 must happen before
# exec (an unmapped uid loses its capabilities at exec), hence the small python stage;
# unshare --map-users would need /etc/subuid entries for root.
cat >"$T/userns.py" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
    sys.exit("unshare: " + os.strerror(ctypes.get_errno()))
with open(sys.argv[1]) as go:  # the parent writes the maps, then opens the fifo
    go.read()
os.setgroups([])
os.setresgid(1000, 1000, 1000)
os.setresuid(1000, 1000, 1000)
os.execv(sys.argv[2], sys.argv[2:])
PY
in_userns() {
	local out=$1 pid i
	shift
	rm -f "$T/go"
	mkfifo "$T/go"
	python3 "$T/userns.py" "$T/go" "$@" >"$out" 2>"$out.err" &
	pid=$!
	for ((i = 0; i < 250; i++)); do
		[ "$(readlink /proc/$pid/ns/user)" != "$(readlink /proc/self/ns/user)" ] && break
		sleep 0.02
	done
	echo "1000 $HOST_UID 1" >/proc/$pid/uid_map || { kill $pid; skip "cannot write uid_map"; }
	echo "1000 $HOST_UID 1" >/proc/$pid/gid_map || { kill $pid; skip "cannot write gid_map"; }
	echo go >"$T/go"
	wait $pid
	echo $?
}

# shellcheck disable=SC2016 # expanded by the inner shell, not this one
RC=$(in_userns "$T/id" /bin/sh -c 'id -u; id -g; stat -c %u "$0"' "$D")
[ "$(head -2 "$T/id" | tr '\n' ' ')" = "1000 1000 " ] && pass "reader is uid 1000 in the namespace" || fail "namespace ids: $(cat "$T/id" "$T/id.err")"
[ "$(sed -n 3p "$T/id")" = "$(cat /proc/sys/kernel/overflowuid)" ] && pass "D shows up as the overflow uid" || fail "D owner inside: $(sed -n 3p "$T/id")"

RC=$(in_userns "$T/get" "$LOCKBOX" get db_password --dir "$D")
[ "$RC" = 0 ] && [ "$(cat "$T/get")" = remapped ] && pass "uid 1000 reads the file of host uid $HOST_UID" || fail "userns get: exit $RC: $(cat "$T/get" "$T/get.err")"

RC=$(in_userns "$T/nb" "$LOCKBOX" get neighbour --dir "$D")
[ "$RC" = 77 ] && pass "a file of an unmapped host uid is refused (exit 77)" || fail "neighbour: exit $RC"
grep -q "owner check failed on $D/..data/neighbour: owned by uid $(cat /proc/sys/kernel/overflowuid)" "$T/nb.err" && pass "refusal names the check and path" || fail "neighbour message: $(cat "$T/nb.err")"

RC=$(in_userns "$T/check" "$LOCKBOX" check --dir "$D")
[ "$RC" = 77 ] && grep -q "ok    secret $D/..data/db_password" "$T/check" && pass "check inside the namespace" || fail "userns check: $RC $(cat "$T/check" "$T/check.err")"

# exec verifies every secret of the generation before CMD runs: the neighbour's file stops it.
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
RC=$(in_userns "$T/exec" "$LOCKBOX" exec --dir "$D" -- /bin/sh -c 'cat "$DB_PASSWORD_FILE"')
[ "$RC" = 77 ] && [ ! -s "$T/exec" ] && pass "exec refuses a generation with a foreign file" || fail "userns exec with foreign file: $RC"
lb_gen 2 db_password 'remapped' $HOST_UID $HOST_UID 0400 "$exp"
lb_publish 2
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
RC=$(in_userns "$T/exec" "$LOCKBOX" exec --dir "$D" --wait db_password -- /bin/sh -c 'cat "$DB_PASSWORD_FILE"')
[ "$RC" = 0 ] && [ "$(cat "$T/exec")" = remapped ] && pass "exec in the namespace" || fail "userns exec: $RC $(cat "$T/exec" "$T/exec.err")"

lb_finish

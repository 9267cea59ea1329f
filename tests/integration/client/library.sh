#!/bin/bash
# lockbox_read() from liblockbox-client.a applies the same checks as `lockbox get`.
. "$(dirname "$0")/lib.sh"
PROBE=${2:?usage: $0 lockbox read_probe}
need_root
# Run as uid 1000 and 2000 below: a copy they can reach wherever the build lives.
PROBE=$(reachable "$PROBE") || exit 1
not_tmpfs

exp=$(($(now) + 3600))
lb_gen 1 db_password 'lib-secret' 1000 1000 0400 "$exp" readable 'r' 1000 1000 0444 "$exp" old 'x' 1000 1000 0400 $(($(now) - 5))
lb_publish 1

probe() {
	local want=$1 what=$2
	shift 2
	OUT=$("$PROBE" "$@" 2>"$T/stderr")
	RC=$?
	ERR=$(cat "$T/stderr")
	if [ "$RC" = "$want" ]; then pass "$what (exit $RC)"; else fail "$what: exit $RC, want $want ($ERR)"; return 1; fi
}

probe 0 "lockbox_read happy path" "$D" db_password && expect_out 'lib-secret' "lockbox_read"
OUT=$(setpriv --reuid 1000 --regid 1000 --clear-groups "$PROBE" "$D" db_password)
[ "$OUT" = 'lib-secret' ] && pass "lockbox_read as uid 1000" || fail "lockbox_read as uid 1000: '$OUT'"
probe 1 "buffer too small" "$D" db_password --cap 4 && expect_err "len 10" "ERANGE reports the size needed"
probe 66 "missing name" "$D" nope && expect_err "secret check failed on $D/..data/nope" "missing name"
probe 65 "expired" "$D" old && expect_err "expiry check failed on $D/..data/old" "expired"
probe 64 "invalid name" "$D" ../x
probe 77 "writable mount refused" "$W" db_password && expect_err "read-only check failed on $W" "writable"
probe 0 "writable mount allowed with the flag" "$W" db_password --allow-writable
probe 77 "not a tmpfs ($(stat -f -c %T "$NOT_TMPFS"))" "$NOT_TMPFS" db_password &&
	expect_err "tmpfs check failed on $NOT_TMPFS" "not tmpfs"
OUT=$(setpriv --reuid 2000 --regid 2000 --clear-groups "$PROBE" "$D" readable 2>&1)
case $OUT in *"owner check failed on $D/..data/readable"*"code 77"*) pass "other uid refused by the library" ;; *) fail "other uid: $OUT" ;; esac

lb_finish

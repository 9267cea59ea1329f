#!/bin/bash
# Happy path: get, check, wait and exec against a hand-built layout on a read-only tmpfs,
# as root and as the consumer uid.
. "$(dirname "$0")/lib.sh"
need_root

exp=$(($(now) + 3600))
lb_gen 1 db_password 's3cr3t pass' 1000 1000 0400 "$exp" \
	api.key 'k-123' 1000 1000 0440 none \
	tls-cert 'CERT' 0 0 0444 "$exp"
lb_publish 1

run_lb 0 "get as root" get db_password --dir "$D" && expect_out 's3cr3t pass' "get as root"
run_lb 0 "get with --dir=" get --dir="$D" api.key && expect_out 'k-123' "get --dir="
# Byte-exact: nothing but the secret on stdout, no newline added.
"$LOCKBOX" get db_password --dir "$D" >"$T/got"
if cmp -s "$T/got" "$W/..gen-1/db_password"; then pass "get is byte-exact"; else fail "get is not byte-exact"; fi
OUT=$(setpriv --reuid 1000 --regid 1000 --clear-groups "$LOCKBOX" get db_password --dir "$D")
[ "$OUT" = 's3cr3t pass' ] && pass "get as the owner uid 1000" || fail "get as uid 1000: '$OUT'"
OUT=$(setpriv --reuid 2000 --regid 2000 --groups 1000 "$LOCKBOX" get api.key --dir "$D")
[ "$OUT" = 'k-123' ] && pass "get through a supplementary gid" || fail "get via gid: '$OUT'"

run_lb 0 "check" check --dir "$D"
for c in "ok    tmpfs $D" "ok    read-only $D" "ok    owner $D" "ok    beneath $D/..data" \
	"ok    manifest $D/..data/.manifest.json (1)" "ok    secret $D/..data/db_password ($exp)" \
	"ok    secret $D/..data/api.key (no expiry)"; do
	case $OUT in *"$c"*) pass "check prints '$c'" ;; *) fail "check output lacks '$c': $OUT" ;; esac
done

run_lb 0 "wait for present names" wait db_password api.key --dir "$D" --timeout 1s

# exec: NAME_FILE paths only, never a value; the child's status comes back.
run_lb 0 "exec exports NAME_FILE" exec --dir "$D" -- /bin/sh -c 'env' || true
for v in "DB_PASSWORD_FILE=$D/db_password" "API_KEY_FILE=$D/api.key" "TLS_CERT_FILE=$D/tls-cert"; do
	case $OUT in *"$v"*) pass "exec env has $v" ;; *) fail "exec env lacks $v" ;; esac
done
case $OUT in *'s3cr3t'* | *'k-123'*) fail "a secret value leaked into the environment" ;; *) pass "no value in the environment" ;; esac
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
OUT=$(DB_PASSWORD_FILE=/elsewhere "$LOCKBOX" exec --dir "$D" -- /bin/sh -c 'echo "$DB_PASSWORD_FILE"')
[ "$OUT" = "$D/db_password" ] && pass "exec overrides an inherited NAME_FILE" || fail "inherited NAME_FILE kept: $OUT"
# shellcheck disable=SC2016 # expanded by the inner shell, not this one
OUT=$("$LOCKBOX" exec --dir "$D" -- /bin/sh -c 'cat "$DB_PASSWORD_FILE"')
[ "$OUT" = 's3cr3t pass' ] && pass "child reads NAME_FILE" || fail "child read '$OUT'"
run_lb 7 "exec returns the child's status" exec --dir "$D" -- /bin/sh -c 'exit 7'
run_lb 127 "exec of a missing command" exec --dir "$D" -- /nonexistent/cmd
expect_err "exec check failed on /nonexistent/cmd" "exec of a missing command"
run_lb 127 "exec: command not on PATH" exec --dir "$D" -- no-such-command-lockbox
expect_err "exec check failed on no-such-command-lockbox: No such file or directory" "not on PATH"
printf 'not executable' >"$T/noexec"
run_lb 126 "exec: not executable" exec --dir "$D" -- "$T/noexec"
# The same from the child that --init starts (the codes above come from lockbox's own execve).
run_lb 127 "exec --init: command not on PATH" exec --init --dir "$D" -- no-such-command-lockbox
expect_err "exec check failed on no-such-command-lockbox: No such file or directory" "--init: not on PATH"
run_lb 126 "exec --init: not executable" exec --init --dir "$D" -- "$T/noexec"
mkdir -p "$T/bin/pathdir" # $T/bin allows exec, /tmp may not
printf '#!/bin/sh\necho found-on-path\n' >"$T/bin/pathdir/lbtestcmd"
chmod +x "$T/bin/pathdir/lbtestcmd"
OUT=$(PATH="/nonexistent:$T/bin/pathdir:/usr/bin:/bin" "$LOCKBOX" exec --dir "$D" -- lbtestcmd)
[ "$OUT" = found-on-path ] && pass "exec searches PATH" || fail "PATH search: '$OUT'"
run_lb 0 "exec --wait present names" exec --dir "$D" --wait db_password api.key --timeout 2s -- true

run_lb 64 "usage: no command" || true
run_lb 64 "usage: exec without --" exec --dir "$D" true
run_lb 64 "usage: bad duration" wait x --dir "$D" --timeout 5y
run_lb 64 "usage: invalid name" get ../etc --dir "$D"
expect_err "name check failed" "invalid name"
run_lb 0 "--version" --version && expect_out "lockbox 0.1.0" "--version"
run_lb 0 "--help" --help

# Past the client's inline buffers (1 KiB each): a manifest of 40 secrets (about 4 KiB) is
# read into a mapping, and CMD's environment of 300 inherited variables plus 40 NAME_FILE is
# built in one; the small ones above stayed inline. Same results either way.
args=()
for ((i = 0; i < 40; i++)); do args+=("bulk_$i" "v$i" 0 0 0444 "$exp"); done
lb_gen 2 "${args[@]}"
lb_publish 2
[ "$(stat -c %s "$W/..gen-2/.manifest.json")" -gt 1024 ] || fail "the bulk manifest fits 1 KiB"
run_lb 0 "get from a manifest over 1 KiB" get bulk_39 --dir "$D" && expect_out v39 "get bulk_39"
run_lb 0 "check of a manifest over 1 KiB" check --dir "$D"
big_env=()
for ((i = 0; i < 300; i++)); do big_env+=("LB_PAD_$i=padding-value-$i"); done
OUT=$(env "${big_env[@]}" BULK_7_FILE=/elsewhere "$LOCKBOX" exec --dir "$D" -- /bin/sh -c env)
n=$(grep -c '^BULK_[0-9]*_FILE=' <<<"$OUT")
[ "$n" = 40 ] && pass "exec exports 40 NAME_FILE past the inline environment" || fail "NAME_FILE count $n, want 40"
grep -qx "BULK_7_FILE=$D/bulk_7" <<<"$OUT" && pass "overridden NAME_FILE in a large environment" ||
	fail "BULK_7_FILE not overridden"
grep -qx "LB_PAD_299=padding-value-299" <<<"$OUT" && grep -qx "LB_PAD_0=padding-value-0" <<<"$OUT" &&
	pass "inherited variables kept in a large environment" || fail "inherited variables lost"

lb_finish

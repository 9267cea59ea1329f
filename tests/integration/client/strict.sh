#!/bin/bash
# --strict / LOCKBOX_STRICT=1 refuse secret-looking environment variables, naming them and
# never printing their values.
. "$(dirname "$0")/lib.sh"
need_root

lb_gen 1 db_password 'pw' 0 0 0400 $(($(now) + 3600))
lb_publish 1

OUT=$(env DB_PASSWORD=hunter2-value "$LOCKBOX" exec --strict --dir "$D" -- touch "$T/ran" 2>"$T/stderr")
RC=$? ERR=$(cat "$T/stderr")
[ $RC = 77 ] && pass "--strict refuses DB_PASSWORD (exit 77)" || fail "--strict: exit $RC"
expect_err "strict check failed on environment: DB_PASSWORD looks like a secret" "--strict"
case "$OUT$ERR" in *hunter2*) fail "the value was printed" ;; *) pass "value not printed" ;; esac
[ -e "$T/ran" ] && fail "CMD ran under --strict refusal" || pass "CMD did not run"

OUT=$(env -i PATH="$PATH" LOCKBOX_STRICT=1 github_token=tok-value AWS_SECRET_ACCESS_KEY=aws-value \
	"$LOCKBOX" exec --dir "$D" -- true 2>"$T/stderr")
RC=$? ERR=$(cat "$T/stderr")
[ $RC = 77 ] && pass "LOCKBOX_STRICT=1 refuses (exit 77)" || fail "LOCKBOX_STRICT=1: exit $RC"
expect_err "github_token looks like a secret" "lower-case name"
expect_err "AWS_SECRET_ACCESS_KEY looks like a secret" "second variable named too"
case "$ERR" in *tok-value* | *aws-value*) fail "a value was printed" ;; *) pass "values not printed" ;; esac

for v in MY_API_KEY SSH_PRIVATE_KEY DB_PASSWD APP_CREDENTIALS; do
	env -i PATH="$PATH" "$v=x" "$LOCKBOX" exec --strict --dir "$D" -- true 2>/dev/null
	[ $? = 77 ] && pass "--strict refuses $v" || fail "--strict let $v through"
done
OUT=$(env -i PATH="$PATH" DB_PASSWORD_FILE=/run/secrets/db_password TOKEN_PATH=/x HOME=/root \
	"$LOCKBOX" exec --strict --dir "$D" -- /bin/sh -c 'echo ran' 2>"$T/stderr")
RC=$?
[ $RC = 0 ] && [ "$OUT" = ran ] && pass "_FILE/_PATH names and ordinary variables pass" || fail "clean env refused: $RC $(cat "$T/stderr")"
if env DB_PASSWORD=x "$LOCKBOX" exec --dir "$D" -- true; then
	pass "without --strict the environment is not judged"
else
	fail "non-strict refused"
fi

lb_finish

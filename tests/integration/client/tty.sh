#!/bin/bash
# exec --init with a terminal (pty_run: CMD leads a new session on a new pseudo-terminal, in
# its foreground, like a login shell or `docker run -t`'s first process):
#  - CMD's process group gets the terminal's foreground, and the terminal comes back to the
#    client's group when CMD ends: at exit (the caller, a shell without job control, is in the
#    foreground again) and while a --restart-on-rotate restart waits for its secrets (the
#    terminal's ^C then reaches the client and ends the wait: 130);
#  - a client in the background (a job of a shell with job control) leaves the terminal to
#    the shell.
. "$(dirname "$0")/lib.sh"
PTY=${2:?usage: $0 LOCKBOX PTY_RUN}
need_root
PTY=$(reachable "$PTY") || exit 1

exp=$(($(now) + 3600))
lb_gen 1 db_password 'v1' 0 0 0400 "$exp" api_key 'k1' 0 0 0400 "$exp"
lb_publish 1

# fg.sh LABEL: whether this process's group is its terminal's foreground group.
cat >"$T/fg.sh" <<'SH'
label=$1
# shellcheck disable=SC2046 # the fields of /proc/PID/stat after "(comm) "
set -- $(sed 's/.*) //' /proc/$$/stat)
if [ "$3" = "$6" ]; then echo "$label: foreground"; else echo "$label: background (group $3, terminal's $6)"; fi
SH

# has LINE FILE: FILE (the terminal's output: CRLF line ends) has LINE.
has() { tr -d '\r' <"$2" | grep -qxF "$1"; }

# At exit: the caller is in the foreground again.
"$PTY" -t 20 -- /bin/sh -c "\"$LOCKBOX\" exec --init --dir \"$D\" -- /bin/sh \"$T/fg.sh\" child;
	/bin/sh \"$T/fg.sh\" after" </dev/null >"$T/exit.out" 2>&1
RC=$?
[ $RC = 0 ] || fail "exit: pty_run exit $RC: $(cat "$T/exit.out")"
has "child: foreground" "$T/exit.out" && pass "CMD has the terminal's foreground" ||
	fail "CMD not in the foreground: $(cat "$T/exit.out")"
has "after: foreground" "$T/exit.out" && pass "the terminal is the caller's again after exit" ||
	fail "after exit: $(cat "$T/exit.out")"

# In the background of a shell with job control (set -m): the shell keeps the terminal.
"$PTY" -t 20 -- /bin/sh -c "set -m; \"$LOCKBOX\" exec --init --dir \"$D\" -- /bin/sh \"$T/fg.sh\" child &
	wait; /bin/sh \"$T/fg.sh\" after" </dev/null >"$T/bg.out" 2>&1
RC=$?
[ $RC = 0 ] || fail "background: pty_run exit $RC: $(cat "$T/bg.out")"
tr -d '\r' <"$T/bg.out" | grep -q "^child: background" && pass "a background client leaves the terminal alone" ||
	fail "background client: $(cat "$T/bg.out")"
has "after: foreground" "$T/bg.out" && pass "the shell keeps the terminal" ||
	fail "background client took the terminal: $(cat "$T/bg.out")"

# --restart-on-rotate: the new generation lacks a --wait name, so the restart waits; the
# terminal is the client's meanwhile and its ^C ends the wait (130), not the 20 s timeout.
cat >"$T/app.sh" <<SH
/bin/sh "$T/fg.sh" child
exec sleep 60
SH
mkfifo "$T/in"
"$PTY" -p "$T/lb.pid" -t 30 -- "$LOCKBOX" exec --init --restart-on-rotate --grace 5s --dir "$D" \
	--wait api_key --timeout 20s -- /bin/sh "$T/app.sh" <"$T/in" >"$T/restart.out" 2>&1 &
ppid=$!
exec 4>"$T/in"
wait_for "CMD started" 10 has "child: foreground" "$T/restart.out" && pass "CMD started in the foreground"
lbpid=$(cat "$T/lb.pid")
lb_gen 2 db_password 'v2' 0 0 0400 "$exp"
lb_publish 2
# The client's own group in the terminal's foreground, CMD gone.
# shellcheck disable=SC2317 # called through wait_for
client_has_terminal() {
	local s f
	s=$(cat "/proc/$lbpid/stat") || return 1
	# shellcheck disable=SC2206 # the fields after "(comm) "
	f=(${s##*) })
	[ "${f[2]}" = "${f[5]}" ] && [ -z "$(cat "/proc/$lbpid/task/$lbpid/children")" ]
}
wait_for "the terminal back with the client while it waits" 10 client_has_terminal &&
	pass "the terminal is the client's while the restart waits"
t0=$(date +%s%N)
printf '\003' >&4
wait $ppid
RC=$?
t1=$(date +%s%N)
exec 4>&-
if [ $RC = 130 ] && [ $(((t1 - t0) / 1000000)) -lt 10000 ]; then
	pass "the terminal's ^C ends the restart's wait (exit $RC, $(((t1 - t0) / 1000000)) ms)"
else
	fail "^C while the restart waits: exit $RC after $(((t1 - t0) / 1000000)) ms: $(cat "$T/restart.out")"
fi
lb_finish

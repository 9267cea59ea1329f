#!/usr/bin/env bash
# Issue 18: lockboxctl as an operator meets it. --help lists every command on one line;
# status is a human summary and --json the machine form; targets fits 80 columns (long
# names are cut, --wide shows them whole); modes are octal strings; unknown commands and
# options are named; a missing configuration file is one plain line; metrics prints the
# Prometheus text.
source "$(dirname "$0")/lib.sh" "$1"
need_root

# --help: one line per command, every line within 80 columns.
help=$("$LB_BIN/lockboxctl" --help)
for c in status targets reload rotate audit metrics "secret put" "secret list" "secret rm"; do
	assert_eq "$(grep -c "^  $c\b" <<<"$help")" 1 "lines for \"$c\" in --help"
done
long=$(awk 'length > 80' <<<"$help")
[[ -z $long ]] || fail "--help lines over 80 columns: $long"
pass "--help lists every command on one line, within 80 columns"

# Unknown commands and options are named; usage errors exit 64.
rc=0
"$LB_BIN/lockboxctl" --config "$T/none.json" bogus 2>"$T/err" || rc=$?
assert_eq "$rc" 64 "exit status of an unknown command"
grep -q 'unknown command "bogus"' "$T/err" || fail "unknown command not named: $(cat "$T/err")"
rc=0
"$LB_BIN/lockboxctl" --frobnicate status 2>"$T/err" || rc=$?
assert_eq "$rc" 64 "exit status of an unknown option"
grep -q 'unknown option "--frobnicate"' "$T/err" || fail "unknown option not named: $(cat "$T/err")"
rc=0
"$LB_BIN/lockboxctl" --config "$T/none.json" targets --frobnicate 2>"$T/err" || rc=$?
assert_eq "$rc" 64 "exit status of an unknown option after a command"
grep -q 'unknown option "--frobnicate" for targets' "$T/err" || fail "option of a command not named: $(cat "$T/err")"
pass "unknown command and options are named (exit 64)"

# A missing configuration file: one plain line (then the broker is not found).
rc=0
"$LB_BIN/lockboxctl" --config "$T/none.json" status 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "exit status without a broker"
head -1 "$T/err" | grep -qx "lockboxctl: $T/none.json: no such configuration file (using run_dir /run/lockbox)" ||
	fail "missing config: $(cat "$T/err")"
grep -q -- '-1:-1\|unable to open' "$T/err" && fail "missing config message has parser noise: $(cat "$T/err")"
pass "missing configuration: $(head -1 "$T/err")"

# A broker with a target whose name is longer than the TARGET column.
longname=target_with_a_name_much_longer_than_the_column
write_basic_config ",
    \"$longname\": { \"binding\": \"web\", \"uid\": 4294967294, \"gid\": 1000, \"uid_map\": \"0 0 4294967295\" }"
put_secret web/db_password "A1"
put_secret web/api_key "B1"
start_broker
wait_for "first generation" 5 test -L "$T/run/t/demo/..data"
wait_for "second target" 5 test -L "$T/run/t/$longname/..data"

st=$(ctl status)
for want in "lockboxd $("$LB_BIN/lockboxd" --version | awk '{print $2}'), pid $BROKER_PID, up " \
	"targets:  2 (2 static, 0 docker), 0 containers" "stores:" "  local            sealed     ok" \
	"docker:   not configured" "metrics:  $T/run/metrics.sock"; do
	grep -qF -- "$want" <<<"$st" || fail "status lacks '$want': $st"
done
ctl --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)
for k in ("version", "pid", "started", "uptime", "config", "run_dir", "targets", "docker_targets",
          "containers", "stores", "docker", "metrics"):
    assert k in s, k
assert s["targets"] == 2 and s["docker"] is None and s["stores"][0]["health"] == "ok", s
assert s["metrics"]["socket"].endswith("/metrics.sock"), s
' || fail "status --json: $(cat "$T/ctl.stdout")"
pass "status: human summary; --json has every documented key"

tg=$(ctl targets)
long=$(awk 'length > 80' <<<"$tg")
[[ -z $long ]] || fail "targets lines over 80 columns: $long"
head -1 <<<"$tg" | grep -Eq '^TARGET +CONTAINER +BINDING +UID +GEN +AGE +STATE$' || fail "targets header: $tg"
grep -Eq '^demo +- +web +1000 +1 +[0-9hms]+ ok$' <<<"$tg" || fail "targets demo row: $tg"
grep -Eq "^${longname:0:17}~ +- +web +4294967294 +1 +[0-9hms]+ ok$" <<<"$tg" || fail "targets long row: $tg"
wide=$(ctl targets --wide)
grep -Eq "^$longname +- +- +web +4294967294 +4294967294 +1 +[0-9hms]+ ok +(db_password|api_key)@1" <<<"$wide" ||
	fail "targets --wide: $wide"
pass "targets fits 80 columns ($(awk '{ if (length > m) m = length } END { print m }' <<<"$tg") wide); --wide shows names whole"

ctl --json targets | python3 -c '
import json, sys
t = {x["name"]: x for x in json.load(sys.stdin)["targets"]}["demo"]
assert t["secrets"]["api_key"]["mode"] == "0440", t
assert t["secrets"]["db_password"]["mode"] == "0400", t
assert t["state"] == "ok" and t["kind"] == "static" and isinstance(t["published"], int), t
' || fail "targets --json: $(cat "$T/ctl.stdout")"
pass "targets --json: modes as octal strings, state, kind, published"

ctl metrics >"$T/metrics.txt" || fail "lockboxctl metrics"
grep -q '^lockbox_targets{kind="static"} 2$' "$T/metrics.txt" || fail "metrics: $(head -c 2000 "$T/metrics.txt")"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/metrics.txt" || fail "promtool check metrics on lockboxctl metrics"
fi
pass "lockboxctl metrics prints the exposition"

rc=0
ctl audit 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "audit without a docker section"
grep -q 'audit needs a "docker" section' "$T/err" || fail "audit error: $(cat "$T/err")"
assert_no_canary A1
assert_no_canary B1
stop_broker
pass "done"

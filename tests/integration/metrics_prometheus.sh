#!/usr/bin/env bash
# Issue 18: lockboxd's /metrics as a real Prometheus (Debian's prometheus) sees it.
# - the text on RUN_DIR/metrics.sock and on TCP passes `promtool check metrics`;
# - only GET /metrics is served (405, 404 otherwise); the unix socket is root's (0600);
# - Prometheus scrapes lockboxd over TCP; after one rotation a query through its HTTP API
#   returns an increase of exactly 1 of lockbox_rotations_total{outcome="published"};
# - deploy/prometheus.yml and deploy/alerts.yml pass promtool, and the rules load into
#   the running Prometheus with health "ok".
# The Prometheus is this test's own (own config, data dir and port on 127.0.0.1), stopped by
# its PID.
source "$(dirname "$0")/lib.sh" "$1"
need_root
SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
	skip "prometheus and promtool are not installed (apt-get install prometheus)"
command -v curl >/dev/null || skip "curl is not installed"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
PPORT=$(free_port)
[[ $MPORT != "$PPORT" ]] || PPORT=$(free_port)

write_basic_config ""
python3 - "$CONF" "$MPORT" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["metrics"] = {"listen": "127.0.0.1:" + sys.argv[2]}
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
put_secret web/db_password "A1"
put_secret web/api_key "B1"
start_broker
wait_for "first generation" 5 test -L "$T/run/t/demo/..data"
wait_for "metrics socket" 5 test -S "$T/run/metrics.sock"

# 1. The exposition, on both listeners.
[[ $(stat -c %a "$T/run/metrics.sock") == 600 ]] || fail "metrics.sock mode $(stat -c %a "$T/run/metrics.sock"), want 600"
curl -sf --max-time 5 --unix-socket "$T/run/metrics.sock" http://lockbox/metrics >"$T/unix.txt" ||
	fail "GET /metrics on metrics.sock failed"
curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" >"$T/tcp.txt" || fail "GET /metrics on TCP failed"
for f in unix tcp; do
	promtool check metrics <"$T/$f.txt" >"$T/$f.check" 2>&1 || fail "promtool check metrics ($f): $(cat "$T/$f.check")"
done
for want in 'lockbox_build_info{version="' 'lockbox_rotations_total{binding="web",outcome="published"} 1' \
	'lockbox_store_up{store="local",type="sealed"} 1' 'lockbox_targets{kind="static"} 1' \
	'lockbox_generation_age_seconds{binding="web",target="demo"}' 'process_resident_memory_bytes ' \
	'process_open_fds ' 'lockbox_publish_duration_seconds_count{binding="web"} 1'; do
	grep -qF -- "$want" "$T/tcp.txt" || fail "no '$want' in /metrics"
done
assert_no_canary A1
assert_no_canary B1
pass "/metrics on metrics.sock and TCP passes promtool check metrics ($(grep -c '^# TYPE' "$T/tcp.txt") families)"

code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$MPORT/metrics")
assert_eq "$code" 405 "POST /metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$MPORT/")
assert_eq "$code" 404 "GET /"
pass "only GET /metrics is served"

# 2. The shipped configuration and rules.
promtool check rules "$SRC/deploy/alerts.yml" >"$T/rules.check" 2>&1 || fail "promtool check rules: $(cat "$T/rules.check")"
promtool check config "$SRC/deploy/prometheus.yml" >"$T/config.check" 2>&1 || fail "promtool check config: $(cat "$T/config.check")"
pass "deploy/prometheus.yml and deploy/alerts.yml pass promtool ($(grep -o '[0-9]* rules found' "$T/rules.check" | head -1))"

# 3. A real Prometheus scrapes lockboxd every second.
mkdir -p "$T/prom/data"
cp "$SRC/deploy/alerts.yml" "$T/prom/alerts.yml"
sed -e "s/127.0.0.1:9464/127.0.0.1:$MPORT/" -e 's/scrape_interval: 15s/scrape_interval: 1s/' \
	-e 's/evaluation_interval: 15s/evaluation_interval: 1s/' "$SRC/deploy/prometheus.yml" >"$T/prom/prometheus.yml"
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$T/prom/log" 2>&1 &
PROM_PID=$!
trap 'rc=$?; kill "$PROM_PID" 2>/dev/null || true; wait "$PROM_PID" 2>/dev/null || true; (exit $rc); cleanup' EXIT
wait_for "prometheus ready" 60 curl -sf --max-time 2 "http://127.0.0.1:$PPORT/-/ready"

query() { # PROMQL -> the value of the first sample, "" when none
	curl -sf --max-time 5 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
		python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
value_is() { [[ $(query "$1") == "$2" ]]; }

sel='lockbox_rotations_total{job="lockbox",binding="web",outcome="published"}'
wait_for "Prometheus to scrape lockboxd (up == 1)" 30 value_is 'up{job="lockbox"}' 1
wait_for "Prometheus to see the first publish" 30 value_is "$sel" 1
put_secret web/db_password "A2"
wait_for "the rotation in lockboxd" 5 test "$(generation_of demo)" = 2
wait_for "Prometheus to see the rotation" 30 value_is "$sel" 2
# The increase over the window, as Prometheus computes it from its samples: exactly one.
got=$(query "max_over_time(${sel}[5m]) - min_over_time(${sel}[5m])")
assert_eq "$got" 1 "counter increase through Prometheus's API"
got=$(query "increase(${sel}[5m]) > 0")
[[ -n $got ]] || fail "increase() over 5m is not positive"
pass "Prometheus scraped lockboxd; after one rotation the counter's increase is $(query "max_over_time(${sel}[5m]) - min_over_time(${sel}[5m])")"

# The shipped alert rules run in this Prometheus without errors.
wait_for "rules evaluated" 30 bash -c "curl -sf --max-time 5 http://127.0.0.1:$PPORT/api/v1/rules |
	python3 -c 'import json,sys; g=json.load(sys.stdin)[\"data\"][\"groups\"]; r=[x for y in g for x in y[\"rules\"]]; sys.exit(not r or any(x.get(\"health\")!=\"ok\" for x in r))'"
pass "the alert rules loaded and evaluate with health ok"

kill "$PROM_PID"
wait "$PROM_PID" 2>/dev/null || true
stop_broker
pass "done"

#!/usr/bin/env bash
# Names: a Docker volume named like a static target that a SIGHUP adds later is a separate
# target (issue 13 defect 3: it was taken as the static one, listed twice, republished with the
# static target's owner, and its container's exit crashed lockboxd); Create of an existing
# volume with another binding is refused with the reason (issue 13 defect 10).
source "$(dirname "$0")/lib.sh" "$1"
command -v curl >/dev/null || skip "curl not installed"

start_dockerd
build_image lbtest:1
write_docker_config ',
    "other": { "secrets": { "db_password": "local:other/db_password" } }'
put_secret web/db_password "canary-nm-$$-web"
put_secret other/db_password "canary-nm-$$-other"
start_broker
log_has() { dk logs "$1" 2>&1 | grep -F -- "$2" >/dev/null; }

dk volume create -d "$DRIVER" --opt binding=web svc >/dev/null
cid=$(dk run -d --network none --user 1000 --mount "type=volume,src=svc,dst=/run/secrets" lbtest:1 \
	/lockbox exec --wait db_password --timeout 20s -- /app --seconds 120 /run/secrets/db_password)
wait_for "app reads its secret" 20 log_has "$cid" "canary-nm-$$-web"

jq '.targets = {"svc": {"binding": "web", "uid": 4242, "gid": 4242}}' "$CONF" >"$CONF.new"
mv "$CONF.new" "$CONF"
kill -HUP "$BROKER_PID"
wait_for "static target svc" 10 test -L "$T/run/t/svc/..data"
out=$(ctl targets --wide)
assert_eq "$(grep -c '^svc ' <<<"$out")" 1 "rows named svc in lockboxctl targets"
grep -qE "^[a-z_]+ +${cid:0:12}[0-9a-f]* +svc +web " <<<"$out" || fail "the container's row is missing: $out"
assert_eq "$(stat -c %u "$T/run/t/svc/..data/db_password")" 4242 "owner of the static target's file"
for f in "$T"/run/t/@*/..data/db_password; do
	assert_eq "$(stat -c %u "$f")" "$((REMAP_BASE + 1000))" "owner of the container's file"
done
# lockboxctl status's Docker part (issue 18): driver, plugin socket, dockerd connected.
st=$(ctl status)
grep -Eq '^docker: +volume driver [A-Za-z0-9_.-]+, plugin socket /' <<<"$st" || fail "status, docker: $st"
grep -Eq '^ +dockerd /.*: connected, API v1\.41, dockerd [0-9]' <<<"$st" || fail "status, dockerd: $st"
ndock=$(find "$T/run/t" -maxdepth 1 -name '@*' | wc -l)
grep -Eq "^targets: +$((ndock + 1)) \(1 static, $ndock docker\), 1 container\$" <<<"$st" || fail "status, targets: $st"
ctl --json status | jq -e --argjson n "$ndock" '.docker.connected == true and .containers == 1 and .docker_targets == $n' >/dev/null ||
	fail "status --json: $(cat "$T/ctl.stdout")"
pass "lockboxctl status: $(grep -E '^ +dockerd ' <<<"$st" | sed 's/^ *//')"
put_secret web/db_password "canary-nm-$$-web2"
wait_for "rotation reaches the app" 15 log_has "$cid" "canary-nm-$$-web2"
dk rm -f "$cid" >/dev/null
wait_for "the container's target removed" 10 bash -c "! ls '$T/run/t' | grep -q '^@'"
kill -0 "$BROKER_PID" || fail "lockboxd died when the container exited"
test -L "$T/run/t/svc/..data" || fail "the static target svc was removed with the container"
pass "a volume named like a static target added by SIGHUP: two targets, each its own owner; exit removes only the container's"

create() { # NAME BINDING -> the plugin's reply
	curl -s --unix-socket "$PLUGIN_SOCK" -H 'Content-Type: application/json' \
		-d "{\"Name\":\"$1\",\"Opts\":{\"binding\":\"$2\"}}" http://plugin/VolumeDriver.Create
}
assert_eq "$(create svc web)" "{}" "Create of an existing volume with its own binding"
out=$(create svc other)
[[ $out == *'"Err"'*'volume svc exists with binding web, not other'* ]] || fail "Create with another binding: $out"
grep -q '"event":"volume_created","volume":"svc","binding":"other"' "$T/state/audit.jsonl" &&
	fail "Create with another binding was audited as created"
pass "Create of an existing volume with another binding refused: $(jq -r .Err <<<"$out")"

stop_broker
for v in web web2 other; do assert_no_canary "canary-nm-$$-$v" --exclude-dir=d; done
pass "no canary in lockboxd logs, audit or state"

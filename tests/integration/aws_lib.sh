# shellcheck shell=bash
# Helpers for the aws-sm / aws-ssm store tests: the AWS test double (tests/servers) and configs.
# Usage: source aws_lib.sh BIN_DIR   (sources lib.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$1"
double_setup AWS

# lockboxd must not pick up credentials from the environment of whoever runs the tests.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
	AWS_SHARED_CREDENTIALS_FILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
	AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
	AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_EC2_METADATA_DISABLED
export HOME=$F/home
# No real IMDS at 169.254.169.254 unless a test points it at the double.
export AWS_EC2_METADATA_DISABLED=true

# start_double SEED_JSON: $APIPORT, $METAPORT, $ADMPORT set.
start_double() {
	[[ -d $F/tls ]] || "$SERVERS/make_ca.sh" "$F/tls" >/dev/null 2>&1 || fail "make_ca.sh failed"
	printf '%s' "$1" >"$F/seed.json"
	rm -f "$F/port" "$F/mport" "$F/aport"
	python3 "$SERVERS/aws_double.py" --seed "$F/seed.json" --tls-dir "$F/tls" \
		--port-file "$F/port" --meta-port-file "$F/mport" --admin-port-file "$F/aport" \
		--max-seconds 120 >>"$F/double.log" 2>&1 &
	DOUBLE_PID=$!
	wait_for "aws double" 10 test -s "$F/port"
	APIPORT=$(cat "$F/port")
	# shellcheck disable=SC2034 # used by the tests that source this file
	METAPORT=$(cat "$F/mport")
	ADMPORT=$(cat "$F/aport")
}

# admin METHOD PATH [JSON]: the double's admin endpoint; prints the reply.
admin() { double_admin "$ADMPORT" "$@"; }

# count KEY: requests the double saw: "TARGET NAME" for the API, imds-token/imds-creds/ecs.
count() {
	admin GET /admin/requests | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}

jget() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# aws_config STORES_JSON BINDINGS_JSON TARGETS_JSON
aws_config() {
	cat >"$CONF" <<JSON
{
  "run_dir": "$T/run",
  "state_dir": "$T/state",
  "stores": $1,
  "bindings": $2,
  "targets": $3
}
JSON
}

# One store's JSON: aws_store TYPE [EXTRA_KEYS]
aws_store() {
	printf '{ "type": "%s", "region": "eu-west-1", "endpoint": "https://127.0.0.1:%s", "ca_file": "%s"%s }' \
		"$1" "$APIPORT" "$F/tls/ca.crt" "${2:+, $2}"
}

secret_of() { cat "$T/run/t/$1/$2" 2>/dev/null; }
has_value() { [[ $(secret_of "$1" "$2") == "$3" ]]; }

assert_aws_canary() { # VALUE...
	local v hits
	for v in "$@"; do
		hits=$(grep -rlF --exclude-dir=sealed --exclude-dir=run --exclude-dir=fixture -- "$v" "$T" 2>/dev/null || true)
		[[ -z $hits ]] || fail "canary value $v found in: $hits"
	done
}

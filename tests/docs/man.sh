#!/usr/bin/env bash
# usage: man.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=${1:?usage: man.sh SOURCE_DIR BIN_DIR}
bin=${2:?usage: man.sh SOURCE_DIR BIN_DIR}
man5=$src/docs/man/lockbox.json.5.scd
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# 1. Every key of every allowed-keys list of the parser (policy/*.c; store option schemas in
#    broker/stores/*.c) appears as *key* in lockbox.json(5), and every declared default.
keys=$(cat "$src"/policy/*.c "$src"/broker/stores/*.c 2>/dev/null |
	python3 -c '
import re, sys
text = sys.stdin.read()
for m in re.finditer(r"(?:keys|_keys)\s*\[\]\s*=\s*\{(.*?)\}", text, re.S):
    for k in re.findall(r"\"([a-z_]+)\"", m.group(1)):
        print(k)
for k in re.findall(r"\.key\s*=\s*\"([a-z_]+)\"", text):  # lb_opt schemas
    print(k)' | sort -u)
[[ -n $keys ]] || fail "no key lists found in policy/*.c"
n=0
for k in $keys; do
	n=$((n + 1))
	grep -q "\*$k\*" "$man5" || fail "configuration key \"$k\" is not documented in lockbox.json(5)"
done
echo "ok: $n configuration keys checked against lockbox.json(5)"
# Declared defaults of store options (lb_opt .def) are stated too.
defs=$(cat "$src"/policy/*.c "$src"/broker/stores/*.c 2>/dev/null | grep -o '\.def = "[^"]*"' | sed 's/.*"\(.*\)"/\1/' | sort -u)
for v in $defs; do
	grep -qF "\"$v\"" "$man5" || fail "default \"$v\" of a store option is not stated in lockbox.json(5)"
done

# 2. Every JSON example of lockbox.json(5) is a valid configuration (a bare "stores" block
#    is wrapped in braces).
python3 - "$man5" "$T" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
for i, b in enumerate(re.findall(r"```\n(.*?)```", text, re.S)):
    b = b.replace("\\\\", "\\")
    if b.lstrip().startswith('"'):
        b = "{" + b + "}"
    if b.lstrip().startswith("{"):
        open(f"{sys.argv[2]}/example{i}.json", "w").write(b)
PY
n=0
for f in "$T"/example*.json; do
	[[ -e $f ]] || continue
	n=$((n + 1))
	out=$("$bin/lockboxd" --check-config "$f" 2>&1) || fail "example ${f##*/} of lockbox.json(5): $out"
done
((n >= 2)) || fail "expected JSON examples in lockbox.json(5), found $n"
echo "ok: $n JSON examples of lockbox.json(5) pass --check-config"
out=$("$bin/lockboxd" --check-config "$src/deploy/lockbox.json" 2>&1) || fail "deploy/lockbox.json: $out"

# 3. lockboxctl --help names every command main() dispatches, and so does lockboxctl(8).
help=$("$bin/lockboxctl" --help)
cmds=$(grep -o 'strcmp(cmd, "[a-z-]*")' "$src/broker/lockboxctl.c" | sed 's/.*"\(.*\)")/\1/' | sort -u)
subs=$(grep -o 'strcmp(sub, "[a-z-]*")' "$src/broker/lockboxctl.c" | sed 's/.*"\(.*\)")/secret \1/' | sort -u)
n=0
while read -r c; do
	[[ -n $c ]] || continue
	n=$((n + 1))
	grep -q "^  $c\b" <<<"$help" || fail "lockboxctl --help does not list \"$c\""
	grep -q "^\*$c\*\|^\*${c% *}\* ${c#* }\|^\*$c" "$src/docs/man/lockboxctl.8.scd" ||
		fail "lockboxctl(8) does not describe \"$c\""
done <<<"$cmds
$subs"
echo "ok: $n lockboxctl commands in --help and lockboxctl(8)"

# 4. Both daemons answer --version and --help with status 0.
for b in lockboxd lockboxctl; do
	v=$("$bin/$b" --version) || fail "$b --version"
	[[ $v == "$b "* ]] || fail "$b --version printed '$v'"
	"$bin/$b" --help >/dev/null || fail "$b --help"
done

# 5. Every audit event the broker writes (lb_audit("x"), audit_failure("x")) is named in
#    lockboxd(8).
events=$(grep -rhoE '(lb_audit|audit_failure)\("[a-z_]+"' "$src/broker" | sed 's/.*("\(.*\)"/\1/' | sort -u)
n=0
for e in $events; do
	n=$((n + 1))
	grep -q "\*$e\*" "$src/docs/man/lockboxd.8.scd" || fail "audit event \"$e\" is not named in lockboxd(8)"
done
((n >= 10)) || fail "found only $n audit events in broker/"
echo "ok: $n audit events named in lockboxd(8)"

((fails == 0)) || { echo "docs_man: $fails failure(s)"; exit 1; }
echo "docs_man: all passed"

#!/usr/bin/env bash
# 200 rotations while a reader loops: it never sees a missing file, never a mix of two
# generations (file contents always match the manifest of the generation it came from),
# and old generations are removed after the grace period.
source "$(dirname "$0")/lib.sh" "$1"
need_root

GRACE=1s write_basic_config
put_secret web/db_password "A1"
put_secret web/api_key "B1"
start_broker
d=$T/run/t/demo
wait_for "first generation" 5 test -L "$d/..data"

python3 - "$d" "$T/stop" >"$T/reader.out" 2>&1 <<'PY' &
import json, os, sys, time
d, stop = sys.argv[1], sys.argv[2]
reads = gens = 0
last = 0
while not os.path.exists(stop):
    # A consistent view: open ..data once, read everything through that directory fd.
    fd = os.open(os.path.join(d, "..data"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        mf = os.open(".manifest.json", os.O_RDONLY, dir_fd=fd)
        m = json.loads(os.read(mf, 1 << 20))
        os.close(mf)
        for name, prefix in (("db_password", "A"), ("api_key", "B")):
            f = os.open(name, os.O_RDONLY, dir_fd=fd)
            v = os.read(f, 4096).decode()
            os.close(f)
            want = prefix + m["secrets"][name]["version"]
            if v != want:
                print(f"MIXED: {name}={v!r} but manifest generation {m['generation']} says {want!r}")
                sys.exit(1)
    finally:
        os.close(fd)
    # And through the top-level link, the way an application opens it.
    with open(os.path.join(d, "db_password")) as f:
        if not f.read().startswith("A"):
            print("BAD top-level read"); sys.exit(1)
    if m["generation"] < last:
        print(f"generation went back from {last} to {m['generation']}"); sys.exit(1)
    gens += m["generation"] != last
    last = m["generation"]
    reads += 1
print(f"reads={reads} generations_seen={gens} last={last}")
PY
reader=$!

for i in $(seq 2 101); do
	put_secret web/db_password "A$i"
	put_secret web/api_key "B$i"
done
touch "$T/stop"
wait $reader || fail "reader: $(cat "$T/reader.out")"
cat "$T/reader.out"
assert_eq "$(generation_of demo)" "201" "generation after 200 rotations"
reads=$(sed -n 's/.*reads=\([0-9]*\).*/\1/p' "$T/reader.out")
((reads > 50)) || fail "reader made only $reads reads"
pass "200 rotations, $reads consistent reads"

# After the grace period only the current generation remains.
wait_for "old generations removed" 10 bash -c "[[ \$(ls -d '$d'/..gen-* | wc -l) == 1 ]]"
assert_eq "$(cat "$d/db_password")" "A101" "final value"
pass "replaced generations removed after grace"
stop_broker

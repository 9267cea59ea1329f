#!/bin/bash
# The client must fit FROM-scratch images: static, stripped, at most 64 KiB (goal 32 KiB).
set -u
BIN=${1:?usage: $0 /path/to/lockbox}
LIMIT=65536
GOAL=32768

[ -f "$BIN" ] || { echo "FAIL: $BIN missing"; exit 1; }
size=$(stat -c %s "$BIN")
echo "lockbox: $size bytes (limit $LIMIT, goal $GOAL)"
rc=0
if [ "$size" -gt "$LIMIT" ]; then
	echo "FAIL: $size bytes is above the 64 KiB limit"
	rc=1
fi
[ "$size" -le "$GOAL" ] || echo "note: above the 32 KiB goal"
# Static (static-pie keeps a .dynamic for self-relocation, but has no program interpreter).
if ! readelf -hW "$BIN" >/dev/null 2>&1; then
	echo "FAIL: not an ELF file"
	rc=1
fi
if readelf -lW "$BIN" 2>/dev/null | grep -q 'INTERP'; then
	echo "FAIL: dynamically linked (has a PT_INTERP)"
	rc=1
fi
# Stripped: no symbol table.
if readelf -SW "$BIN" 2>/dev/null | grep -q '\.symtab'; then
	echo "FAIL: not stripped (.symtab present)"
	rc=1
fi
# libc only: no NEEDED entries at all.
if readelf -dW "$BIN" 2>/dev/null | grep -q NEEDED; then
	echo "FAIL: has shared library dependencies"
	rc=1
fi
[ $rc -eq 0 ] && echo "size: ok"
exit $rc

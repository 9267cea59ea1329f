#!/usr/bin/env python3
"""Writes OUT/compile_commands.json for the C files named on stdin (relative to the source root):
the build's command for each file compiled by the build, once (a fuzz harness's main is
compiled seven times), and a plain gnu11 command for files the build compiles with a custom
command (the musl client, the Docker test app), so that every tracked C file is analysed."""
import json
import os
import sys

build, out = sys.argv[1], sys.argv[2]
root = os.getcwd()
with open(os.path.join(build, "compile_commands.json")) as f:
    db = {}
    for e in json.load(f):
        db.setdefault(os.path.normpath(os.path.join(e["directory"], e["file"])), e)

entries = []
for rel in sys.stdin.read().split():
    path = os.path.join(root, rel)
    e = db.get(path)
    if e is None:
        e = {"directory": root, "file": path,
             "arguments": ["cc", "-std=gnu11", "-D_GNU_SOURCE", '-DLOCKBOX_VERSION="0"',
                           "-Wall", "-Wextra", "-I" + os.path.join(root, "include"),
                           "-I" + os.path.dirname(path), "-c", path]}
    entries.append(e)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "compile_commands.json"), "w") as f:
    json.dump(entries, f, indent=1)

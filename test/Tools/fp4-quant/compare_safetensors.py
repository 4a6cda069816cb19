#!/usr/bin/env python3
"""Compares two .safetensors files tensor by tensor (names, dtypes, shapes and
bytes) with the standard library only. Prints one line per difference and
exits 1 if there is any; `--names-only` ignores the bytes."""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}


a, b = load(sys.argv[1]), load(sys.argv[2])
names_only = "--names-only" in sys.argv
diffs = 0
for name in sorted(set(a) | set(b)):
    if name not in a or name not in b:
        print(f"{name}: only in {'second' if name not in a else 'first'}")
        diffs += 1
    elif a[name][:2] != b[name][:2]:
        print(f"{name}: {a[name][:2]} vs {b[name][:2]}")
        diffs += 1
    elif not names_only and a[name][2] != b[name][2]:
        count = sum(x != y for x, y in zip(a[name][2], b[name][2]))
        print(f"{name}: {count} of {len(a[name][2])} bytes differ")
        diffs += 1
print(f"{len(set(a) | set(b))} tensors compared, {diffs} differ")
sys.exit(1 if diffs else 0)

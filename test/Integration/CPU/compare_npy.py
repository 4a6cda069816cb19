#!/usr/bin/env python3
"""Compares two float32 .npy arrays with the standard library only: prints
the relative L2 error ||a - b|| / ||b|| and the largest absolute difference,
and exits 1 if the relative error exceeds --max-rel.
Usage: compare_npy.py A.npy B.npy --max-rel TOL"""
import ast
import math
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    major = raw[6]
    n = struct.unpack("<H" if major == 1 else "<I", raw[8:10] if major == 1 else raw[8:12])[0]
    start = 10 if major == 1 else 12
    header = ast.literal_eval(raw[start:start + n].decode())
    if header["descr"] != "<f4":
        sys.exit(f"{path}: expected float32, got {header['descr']}")
    data = raw[start + n:]
    return header["shape"], struct.unpack(f"<{len(data) // 4}f", data)


(sa, a), (sb, b) = load(sys.argv[1]), load(sys.argv[2])
if tuple(sa) != tuple(sb):
    sys.exit(f"shapes differ: {sa} vs {sb}")
tol = float(sys.argv[sys.argv.index("--max-rel") + 1])
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
den = math.sqrt(sum(y * y for y in b)) or 1.0
worst = max(abs(x - y) for x, y in zip(a, b))
rel = num / den
print(f"relative error {rel:.3g}, max abs difference {worst:.3g}, bound {tol:g}: "
      f"{'within' if rel <= tol else 'EXCEEDED'}")
sys.exit(0 if rel <= tol else 1)

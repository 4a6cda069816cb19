#!/usr/bin/env python3
"""Checks that fp4-fold-constants (fp4-opt output, FOLDED.mlir) produced the
same bytes as fp4-quant (OUTDIR): packed data, scale bytes and global scale.
Standard library only. Usage: check_fold_matches_tool.py FOLDED.mlir OUTDIR"""
import ast
import re
import struct
import sys


def npy_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:6] == b"\x93NUMPY", path
    n = struct.unpack("<H", raw[8:10])[0]
    header = ast.literal_eval(raw[10:10 + n].decode())
    return header, raw[10 + n:]


text = open(sys.argv[1]).read()
blobs = {k: bytes.fromhex(v[2:])[4:] for k, v in re.findall(r'(\w+): "(0x[0-9A-F]+)"', text)}
data_name = re.search(r"data\(dense_resource<(\w+)>", text).group(1)
scales_name = re.search(r"scales\(dense_resource<(\w+)>", text).group(1)
glob = re.search(r"global_scale\(dense<([-0-9.e+]+)> : tensor<f32>\)", text)

_, data = npy_bytes(f"{sys.argv[2]}/data.npy")
_, scales = npy_bytes(f"{sys.argv[2]}/scales.npy")
_, global_bytes = npy_bytes(f"{sys.argv[2]}/global_scale.npy")
ok = True
for what, folded, tool in [("data", blobs[data_name], data), ("scales", blobs[scales_name], scales)]:
    same = folded == tool
    ok &= same
    print(f"{what}: {len(folded)} bytes, {'identical' if same else 'DIFFERENT'}")
folded_global = struct.unpack("<f", struct.pack("<f", float(glob.group(1))))[0]
tool_global = struct.unpack("<f", global_bytes)[0]
ok &= folded_global == tool_global
print(f"global scale: {'identical' if folded_global == tool_global else 'DIFFERENT'}")
sys.exit(0 if ok else 1)

#!/usr/bin/env python3
"""Quantization throughput on the CPU: fp4-mlir's numerics library against
the Python references on the same 1 GiB bfloat16 tensor, in one run.

Measures, for 1 and 2 threads: fp4-mlir (bench/quant-throughput.cpp, built as
build/bin/fp4-quant-throughput), ModelOpt's NVFP4QTensor.quantize and
torchao's NVFP4Tensor.to_nvfp4 (with the per-tensor scale its weight configs
use); also the memory-bandwidth floor (read and copy of the same bytes).
Prints GB/s of bf16 input and the ratios.

Usage: python3 bench/quant_throughput.py [--gib 1.0] [--build build]
Needs torch, torchao and nvidia-modelopt (pip) and a built fp4-mlir.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import ml_dtypes
import numpy as np
import torch

warnings.filterwarnings("ignore")

parser = argparse.ArgumentParser()
parser.add_argument("--gib", type=float, default=1.0)
parser.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
args = parser.parse_args()

cols = 4096
rows = int(args.gib * (1 << 30) / 2 / cols)
torch.manual_seed(0)
x = torch.randn(rows, cols, dtype=torch.bfloat16)
nbytes = x.numel() * 2
print(f"tensor: {rows} x {cols} bf16 ({nbytes / 2**30:.2f} GiB), CPU: {os.cpu_count()} cores")

with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "x.npy")
    np.save(path, x.view(torch.int16).numpy().view(ml_dtypes.bfloat16))
    tool = os.path.join(args.build, "bin", "fp4-quant-throughput")
    out = subprocess.run([tool, "--input", path, "--repeats", "3"], check=True,
                         capture_output=True, text=True).stdout
print(out.strip())
ours = {int(t): float(g) for t, g in re.findall(r"(\d) threads?: [0-9.]+ s, ([0-9.]+) GB/s", out)}

from modelopt.torch.quantization.qtensor.nvfp4_tensor import NVFP4QTensor
from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale


def modelopt():
    NVFP4QTensor.quantize(x, 16)


def torchao():
    pts = per_tensor_amax_to_scale(torch.max(torch.abs(x)))
    NVFP4Tensor.to_nvfp4(x, block_size=16, per_tensor_scale=pts, is_swizzled_scales=False)


results = {}
for threads in (1, 2):
    torch.set_num_threads(threads)
    for name, fn in (("modelopt", modelopt), ("torchao", torchao)):
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        results[(name, threads)] = nbytes / seconds / 1e9
        print(f"{name} nvfp4: {threads} thread{'s' if threads > 1 else ''}: {seconds:.2f} s, "
              f"{results[(name, threads)]:.3f} GB/s", flush=True)

for threads in (1, 2):
    best = max(results[("modelopt", threads)], results[("torchao", threads)])
    print(f"{threads} thread{'s' if threads > 1 else ''}: fp4-mlir {ours[threads]:.2f} GB/s = "
          f"{ours[threads] / best:.1f}x the fastest Python reference ({best:.3f} GB/s)")

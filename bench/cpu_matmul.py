#!/usr/bin/env python3
"""CPU path against PyTorch on one FP8 (E4M3, per-channel scales) W8A16
linear layer y = x W^T, in the same run.

fp4-mlir: fp4.assemble of the codes and scales, fp4.scaled_matmul, lowered
by fp4-lower-to-cpu and JIT-compiled by fp4-run (best of --repeat calls;
each call decodes the weight and multiplies). PyTorch: the same decode
(float8_e4m3fn codes to float32 times the row scales) plus x @ W^T, and,
as the floor a BLAS sets, x @ W^T on weights decoded beforehand. Both sides
use all cores of the machine. Prints milliseconds, GMAC/s and ratios.

Usage: python3 bench/cpu_matmul.py [--build build] [--shapes 1x4096x4096,...]"""
import argparse
import os
import re
import subprocess
import tempfile
import time

import numpy as np
import torch


def module(m, n, k):
    return f"""func.func @forward(%x: tensor<{m}x{k}xf32>, %codes: tensor<{n}x{k}xi8>, %scales: tensor<{n}xf32>) -> tensor<{m}x{n}xf32> {{
  %w = fp4.assemble %codes, %scales : tensor<{n}x{k}xi8>, tensor<{n}xf32> -> !fp4.qtensor<{n}x{k}xf8E4M3FN, fp8_per_channel>
  %y = fp4.scaled_matmul %x, %w : tensor<{m}x{k}xf32>, !fp4.qtensor<{n}x{k}xf8E4M3FN, fp8_per_channel> -> tensor<{m}x{n}xf32>
  return %y : tensor<{m}x{n}xf32>
}}
"""


def best_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--shapes", default="1x4096x4096,64x4096x4096,256x4096x4096")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run = os.path.join(args.build, "bin", "fp4-run")
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{os.cpu_count()} cores")
    print(f"{'M x N x K':>16} {'fp4-mlir ms':>12} {'GMAC/s':>7} {'torch decode+mm':>16} "
          f"{'torch mm only':>14} {'ratio vs decode+mm':>19} {'ratio vs mm':>12}")
    for shape in args.shapes.split(","):
        m, n, k = map(int, shape.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            x = rng.standard_normal((m, k)).astype(np.float32)
            # E4M3 codes without the NaN encodings (0x7F, 0xFF).
            codes = (rng.integers(0, 0x7E, size=(n, k)) |
                     (rng.integers(0, 2, size=(n, k)) << 7)).astype(np.uint8)
            scales = (rng.random(n) * 0.01 + 0.001).astype(np.float32)
            paths = {name: os.path.join(tmp, name + ".npy")
                     for name in ("x", "codes", "scales", "y")}
            np.save(paths["x"], x)
            np.save(paths["codes"], codes.view(np.int8))
            np.save(paths["scales"], scales)
            mlir = os.path.join(tmp, "layer.mlir")
            with open(mlir, "w") as f:
                f.write(module(m, n, k))
            out = subprocess.run(
                [run, mlir, f"--repeat={args.repeat}", "--input", paths["x"],
                 "--input", paths["codes"], "--input", paths["scales"],
                 "--output", paths["y"]],
                capture_output=True, text=True, check=True).stderr
            ours = float(re.search(r"ran in ([0-9.]+) ms", out).group(1))
            y = np.load(paths["y"])

            tx = torch.from_numpy(x)
            tcodes = torch.from_numpy(codes).view(torch.float8_e4m3fn)
            tscales = torch.from_numpy(scales)
            decode_mm = lambda: tx @ (tcodes.float() * tscales[:, None]).T
            w = tcodes.float() * tscales[:, None]
            mm = lambda: tx @ w.T
            reference = decode_mm()
            rel = float(np.linalg.norm(y - reference.numpy()) /
                        np.linalg.norm(reference.numpy()))
            assert rel < 1e-5, f"fp4-mlir and PyTorch disagree: {rel}"
            theirs_full = best_ms(decode_mm, args.repeat)
            theirs_mm = best_ms(mm, args.repeat)
            gmacs = m * n * k / ours / 1e6
            print(f"{shape:>16} {ours:12.1f} {gmacs:7.2f} {theirs_full:16.1f} "
                  f"{theirs_mm:14.1f} {theirs_full / ours:18.2f}x {theirs_mm / ours:11.2f}x")


if __name__ == "__main__":
    main()

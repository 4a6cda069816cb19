#!/usr/bin/env python3
"""W4A4 matmuls on the GPU: fp4-mlir's MXFP4 x MXFP4 and NVFP4 x NVFP4
kernels (both operands packed E2M1 with UE8M0 scales per 32, or UE4M3 per
16 and a global scale; on sm_90a MXFP4 with more than 16 rows (128-256 as
W4A16 where its prefill kernel keeps the weights in registers) on the FP8
tensor-core kernel of Fp8WgmmaKernel.cpp, the rest as W4A16 on exact bf16
rows, Bf16RowsKernel.cpp, or, up to 8 rows, on the GEMV kernel expanding
the activations itself, MmaGemvKernel.cpp) against cuBLAS BF16 (torch.matmul), FP8
torch._scaled_mm and Triton's tl.dot_scaled (MXFP4 only: it takes UE8M0
scales), in one run.

  python3 bench/gpu_w4a4.py KERNELS.cubin... [--json bench/results/gpu_w4a4.json]

The cubins hold fp4_<fmt>_f8wg<T>[s<S>]_<M>x<N>x<K>_bf16 (f8ws<T>: the
weights through the E5M2 rows kernel too, timed with it) and
fp4_<fmt>_w4a4x16<W4A16 kind>_<M>x<N>x<K>_bf16 and
fp4_<fmt>_w4a4mv[s<S>]_<M>x<N>x<K>_bf16 kernels (fp4-compile
bench/Inputs/w4a4_mxfp4.mlir and w4a4_nvfp4.mlir --target=sm_90a
--emit=cubin). For each, every
competitor computes y[M, N] = A[M, K] W[N, K]^T with bf16 output:

- ours: A and W as MXFP4 codes + scales (A quantized beforehand, as a
  W4A4 program's activation quantization does);
- cuBLAS: the same values of A and W in bf16 (exact: E2M1 times a power of
  two in bf16's range);
- FP8: torch._scaled_mm, e4m3 A and W with per-tensor scales (M padded to
  16);
- Triton: tl.dot_scaled with both operands e2m1 and their UE8M0 scales.

Timing as bench/gpu_decode.py (CUDA graphs, weights cycled through more than
twice the L2 cache, median of 10 replays). Each output is checked against a
float64 reference first: ours and cuBLAS must agree with it to bf16's
precision, since they multiply the same values."""
import argparse
import ctypes
import datetime
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "GPU"))
sys.path.insert(0, os.path.dirname(__file__))
from run_kernels import (W4A16_KIND, Driver, activation_arguments, decode, decode_launch,  # noqa: E402
                         f8wg_launch, launched_dependent, memref, random_weights,
                         relative_error, rows_launch)
from gpu_decode import (copies_for, copy_bandwidth, current_stream, graph_time,  # noqa: E402
                        time_cublas_and_fp8, time_triton, write_json)


def triton_w4a4():
    import triton
    import triton.language as tl

    @triton.jit
    def w4a4_mx(a_ptr, sa_ptr, w_ptr, sw_ptr, y_ptr, M, N, K,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_m = tl.program_id(1)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            offs_kb = k0 // 2 + tl.arange(0, BLOCK_K // 2)
            offs_ks = k0 // 32 + tl.arange(0, BLOCK_K // 32)
            a = tl.load(a_ptr + offs_m[:, None] * (K // 2) + offs_kb[None, :],
                        mask=offs_m[:, None] < M, other=0)
            sa = tl.load(sa_ptr + offs_m[:, None] * (K // 32) + offs_ks[None, :],
                         mask=offs_m[:, None] < M, other=127)
            w = tl.load(w_ptr + offs_n[None, :] * (K // 2) + offs_kb[:, None])
            sw = tl.load(sw_ptr + offs_n[:, None] * (K // 32) + offs_ks[None, :])
            acc = tl.dot_scaled(a, sa, "e2m1", w, sw, "e2m1", acc)
        tl.store(y_ptr + offs_m[:, None] * N + offs_n[None, :], acc.to(tl.bfloat16),
                 mask=offs_m[:, None] < M)

    def run(a, sa, w, sw, y, m, n, k):
        block_m = 16 if m <= 16 else 64 if m <= 128 else 128
        grid = (triton.cdiv(n, 128), triton.cdiv(m, block_m))
        w4a4_mx[grid](a, sa, w, sw, y, m, n, k, BLOCK_M=block_m, BLOCK_N=128, BLOCK_K=128)

    return run, triton.__version__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cubin", nargs="+")
    parser.add_argument("--json", default="")
    parser.add_argument("--only", default="")
    parser.add_argument("--split", action="store_true",
                        help="also time the rows kernel and the matmul kernel alone")
    args = parser.parse_args()
    driver = Driver()
    kernels = []  # (module, name)
    for path in args.cubin:
        image = open(path, "rb").read()
        module = driver.load(image)
        kernels += [(module, raw) for raw in sorted(set(re.findall(
            rb"fp4_(?:mxfp4|nvfp4)_(?:f8w[gs]\d+(?:s\d)?|w4a4mv(?:s\d+)?|w4a4x16" +
            W4A16_KIND.encode() + rb"?)_\d+x\d+x\d+_bf16(?![_\w])", image)))]
    rng = np.random.default_rng(0)
    device = torch.cuda.get_device_name()
    bandwidth = copy_bandwidth()
    try:
        triton_run, triton_version = triton_w4a4()
    except Exception as error:  # noqa: BLE001 - reported, not hidden
        triton_run, triton_version = None, f"unavailable: {error}"
    print(f"device: {device}; copy bandwidth {bandwidth / 1e12:.2f} TB/s; "
          f"torch {torch.__version__}; triton {triton_version}")
    print(f"{'format MxKxN':>22} {'ours us':>8} {'cuBLAS':>8} {'FP8':>8} {'Triton':>8} {'floor':>7} "
          f"{'TFLOP/s':>7} {'xcuBLAS':>8} {'xFP8':>6} {'xTriton':>8}")
    records = []
    for module, raw in kernels:
        name = raw.decode()
        if not re.search(args.only, name):
            continue
        fmt, kernel, m, n, k = re.match(
            r"fp4_(mxfp4|nvfp4)_(f8w[gs]\d+(?:s\d)?|w4a4mv(?:s\d+)?|w4a4x16" + W4A16_KIND +
            r"?)_(\d+)x(\d+)x(\d+)_", name).groups()
        m, n, k = int(m), int(n), int(k)
        # W4A4 on the FP8 tensor cores, or (up to 16 rows) as W4A16 on
        # bf16 rows (Bf16RowsKernel.cpp).
        x16 = kernel.startswith("w4a4x16")
        # The GEMV kernel taking the FP4 activations itself: no rows kernel.
        packed = kernel.startswith("w4a4mv")
        if x16:
            grid, block, shared = decode_launch(m, n, kernel[len("w4a4x16"):])
        elif packed:
            grid, block, shared = decode_launch(m, n, kernel[len("w4a4"):])
        else:
            grid, block, shared = f8wg_launch(m, n, kernel[len("f8w"):])
        fn = driver.function(module, name, shared=shared)
        # NVFP4: the product of the global scales is the kernels' alpha.
        a, sa, ga, scale_block, scale_decode = random_weights(rng, fmt, m, k)
        w, sw, gw, _, _ = random_weights(rng, fmt, n, k)
        alpha = float(np.float32(ga * gw))
        weight_bytes = w.nbytes + sw.nbytes
        ad = torch.from_numpy(a.reshape(-1)).cuda()
        sad = torch.from_numpy(sa.reshape(-1)).cuda()
        copies = copies_for(weight_bytes)
        wd = [torch.from_numpy(w.reshape(-1)).cuda() for _ in range(copies)]
        swd = [torch.from_numpy(sw.reshape(-1)).cuda() for _ in range(copies)]
        a_ref = torch.from_numpy(decode(a, sa, scale_block, scale_decode) * alpha).cuda()
        w_ref = torch.from_numpy(decode(w, sw, scale_block, scale_decode)).cuda()
        reference = (a_ref @ w_ref.t()).cpu().numpy()
        flops = 2.0 * m * n * k
        calls = 10 if flops > 1e11 else 100
        y = torch.empty(m * n, dtype=torch.bfloat16, device="cuda")
        # The rows kernel (activations to E5M2 or bf16 rows) then the
        # matmul, as the compiled host code launches them: both timed.
        # "f8ws": the weights through the E5M2 rows kernel too (a
        # workspace of N x K bytes).
        staged = kernel.startswith("f8ws")
        rows_launches = []  # (rows, kernel, params of weight copy i)
        if packed:
            params = [memref(ad) + memref(sad) + memref(wd[i]) + memref(swd[i]) +
                      [ctypes.c_float(alpha)] + memref(y) for i in range(copies)]
        elif x16:
            rows_fn = driver.function(module, f"fp4_{fmt}_bf16rows_{m}x{k}")
            xb = torch.empty(m * k, dtype=torch.bfloat16, device="cuda")
            row_scales = torch.empty(m, dtype=torch.float32, device="cuda")
            rows_launches.append((m, rows_fn, lambda i: memref(ad) + memref(sad) +
                                  memref(xb) + memref(row_scales)))
            map_params, x_map = activation_arguments(xb, m, k, kernel[len("w4a4x16"):])
            params = [memref(xb) + memref(wd[i]) + memref(swd[i]) + [ctypes.c_float(alpha)] +
                      (memref(row_scales) if fmt == "mxfp4" else []) + map_params + memref(y)
                      for i in range(copies)]
        else:
            rows_fn = driver.function(module, f"fp4_{fmt}_e5m2rows_{m}x{k}")
            a8 = torch.empty(m * k, dtype=torch.uint8, device="cuda")
            info = torch.empty(m, dtype=torch.int32, device="cuda")
            rows_launches.append((m, rows_fn, lambda i: memref(ad) + memref(sad) +
                                  memref(a8) + memref(info)))
            staged_params = []
            if staged:
                w8 = torch.empty(n * k, dtype=torch.uint8, device="cuda")
                w_info = torch.empty(n, dtype=torch.int32, device="cuda")
                rows_launches.append((n, driver.function(module, f"fp4_{fmt}_e5m2rows_{n}x{k}"),
                                      lambda i: memref(wd[i % copies]) + memref(swd[i % copies]) +
                                      memref(w8) + memref(w_info)))
                staged_params = memref(w8) + memref(w_info)
            params = [memref(ad) + memref(sad) + memref(wd[i]) + memref(swd[i]) +
                      [ctypes.c_float(alpha)] + memref(a8) + memref(info) + staged_params +
                      memref(y)
                      for i in range(copies)]

        def rows_kernels(i):
            for count, rows_kernel, rows_params in rows_launches:
                driver.enqueue(rows_kernel, *rows_launch(count, k), rows_params(i), 0,
                               current_stream())

        def ours(i):
            rows_kernels(i)
            driver.enqueue(fn, grid, block, params[i % copies], shared, current_stream(),
                           dependent=x16 and launched_dependent(kernel[len("w4a4x16"):]))

        y.fill_(float("nan"))  # poisoned
        ours(0)
        torch.cuda.synchronize()
        got = y.double().cpu().numpy().reshape(m, n)
        error = relative_error(got, reference)
        assert error < 4e-3, f"{name}: wrong result (relative error {error:.2e})"
        t_ours = graph_time(ours, calls)
        if args.split and packed:
            print(f"{f'{fmt} {m}x{k}x{n}':>22} one kernel (no rows kernel): {t_ours:.2f} us")
        elif args.split:
            t_rows = graph_time(rows_kernels, calls)
            t_matmul = graph_time(lambda i: driver.enqueue(
                fn, grid, block, params[i % copies], shared, current_stream()), calls)
            print(f"{f'{fmt} {m}x{k}x{n}':>22} rows kernel {t_rows:.2f} us, "
                  f"matmul {t_matmul:.2f} us, both {t_ours:.2f} us")

        t_bf16, t_fp8 = time_cublas_and_fp8(a_ref.to(torch.bfloat16),
                                            w_ref.to(torch.bfloat16), calls)

        t_triton = None
        if triton_run is not None and fmt == "mxfp4":  # UE8M0 scales only
            t_triton = time_triton(lambda i, yt: triton_run(
                ad, sad, wd[i % copies], swd[i % copies], yt, m, n, k), m, n, reference,
                calls)
        moved = weight_bytes + a.nbytes + sa.nbytes + m * n * 2
        floor = moved / bandwidth * 1e6
        records.append({
            "shape": {"M": m, "K": k, "N": n}, "format": fmt, "activation": fmt,
            "us": {"fp4-mlir": t_ours, "cublas_bf16": t_bf16, "scaled_mm_fp8": t_fp8,
                   "triton_dot_scaled": t_triton},
            "floor_us": floor, "weight_bytes": weight_bytes,
            "TFLOPs": flops / t_ours / 1e6, "relative_error": error,
            "device": device, "date": datetime.date.today().isoformat(),
            "copy_bandwidth_TBps": bandwidth / 1e12,
            "torch": torch.__version__, "triton": triton_version,
        })
        tri = f"{t_triton:8.2f}" if t_triton else f"{'-':>8}"
        xtri = f"{t_triton / t_ours:8.2f}" if t_triton else f"{'-':>8}"
        print(f"{f'{fmt} {m}x{k}x{n}':>22} {t_ours:8.2f} {t_bf16:8.2f} {t_fp8:8.2f} {tri} "
              f"{floor:7.2f} {flops / t_ours / 1e6:7.1f} {t_bf16 / t_ours:8.2f} "
              f"{t_fp8 / t_ours:6.2f} {xtri}")
    if args.json:
        write_json(args.json, records)

if __name__ == "__main__":
    main()

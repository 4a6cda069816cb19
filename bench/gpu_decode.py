#!/usr/bin/env python3
"""Decode-shaped matmuls on the GPU: fp4-mlir's W4A16 kernels (FP4 weights
kept packed, BF16 activations) against cuBLAS BF16 (torch.matmul), FP8
torch._scaled_mm and Triton's tl.dot_scaled, in one run.

  python3 bench/gpu_decode.py KERNELS.cubin... [--json bench/results/gpu_decode.json]

Each cubin holds fp4_<nvfp4|mxfp4>_w4a16_<M>x<N>x<K>_bf16_bf16 kernels
(fp4-compile test/Conversion/FP4ToNVVM/Inputs/w4a16.mlir --target=sm_90a
--emit=cubin for the decode shapes; bench/Inputs/w4a16_prefill.mlir for the
compute-bound ones). For each, every competitor computes y[M, N] = x[M, K] W[N, K]^T
with bf16 output:

- ours: the kernel, weights NVFP4 (or MXFP4) codes + scales;
- cuBLAS: bf16 W (torch.matmul);
- FP8: torch._scaled_mm, e4m3 x and W with per-tensor scales (M padded to 16,
  which _scaled_mm requires);
- Triton: tl.dot_scaled(x bf16, W e2m1 with UE8M0 scales), MXFP4 only (it
  takes no UE4M3 scales).

Timing: each competitor's launches are captured in a CUDA graph (100 calls,
cycling through enough copies of the weights to exceed 2 x the L2 cache, so
weights come from HBM as in a real model) and replayed; the time is the
median of 10 replays / 100 (10 calls per graph for shapes over 100 GFLOP). The bandwidth floor is the weight bytes (codes +
scales) plus x and y over the bandwidth a device-to-device copy reaches.
Before timing, each output is checked against a float64 reference."""
import argparse
import ctypes
import datetime
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "GPU"))
from run_kernels import (W4A16_KIND, Driver, activation_arguments, decode, decode_launch,  # noqa: E402
                         memref, random_weights, relative_error)

CALLS = 100
L2_BYTES = 50 * 2**20


def copies_for(nbytes):
    return max(1, -(-2 * L2_BYTES // nbytes))


def capture_graph(fn, calls):
    """A CUDA graph of `calls` calls of fn(i) (i cycles the weight copies),
    captured after warm-up calls (and Triton compilation) on a side stream,
    and replayed once."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for i in range(3):
            fn(i)
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(calls):
            fn(i)
    graph.replay()
    torch.cuda.synchronize()
    return graph


def replay_us(graph):
    """Microseconds of one replay of `graph`."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1000.0


def graph_time(fn, calls=CALLS):
    """Microseconds per call of fn(i), from a CUDA graph of `calls` calls,
    median of 10 replays."""
    graph = capture_graph(fn, calls)
    return float(np.median([replay_us(graph) / calls for _ in range(10)]))


def copy_bandwidth():
    """Bytes/s of a 1 GiB device-to-device copy (read + write)."""
    a = torch.empty(2**30, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    for _ in range(3):
        b.copy_(a)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        b.copy_(a)
    end.record()
    end.synchronize()
    return 2 * a.numel() * 10 / (start.elapsed_time(end) / 1000.0)


def current_stream():
    """The current torch stream as a CUstream handle, for Driver.enqueue."""
    return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)


def time_cublas_and_fp8(x, wb, calls):
    """Microseconds of y = x wb^T (x [M, K], wb [N, K], bf16 on the GPU) by
    cuBLAS BF16 (torch.matmul) and by FP8 torch._scaled_mm (e4m3 with
    per-tensor scales; M padded to 16, which _scaled_mm requires), each
    over enough weight copies to stream them from HBM."""
    m, k = x.shape
    cb_copies = copies_for(wb.numel() * 2)
    wbs = [wb.clone() for _ in range(cb_copies)]
    t_bf16 = graph_time(lambda i: torch.matmul(x, wbs[i % cb_copies].t()), calls)
    m16 = -(-m // 16) * 16
    x8 = torch.zeros(m16, k, dtype=torch.bfloat16, device="cuda")
    x8[:m] = x
    sx = (x8.abs().max().float() / 448.0).reshape(())
    sw = (wb.abs().max().float() / 448.0).reshape(())
    x8 = (x8.float() / sx).to(torch.float8_e4m3fn)
    w8 = (wb.float() / sw).to(torch.float8_e4m3fn)
    f8_copies = copies_for(w8.numel())
    w8s = [w8.clone() for _ in range(f8_copies)]
    t_fp8 = graph_time(lambda i: torch._scaled_mm(
        x8, w8s[i % f8_copies].t(), scale_a=sx, scale_b=sw, out_dtype=torch.bfloat16),
        calls)
    return t_bf16, t_fp8


def time_triton(run, m, n, reference, calls):
    """Microseconds of run(i, y) (a Triton launch writing y [m, n] bf16),
    after checking its first result against `reference`; None, with the
    reason printed, if Triton fails."""
    y = torch.empty(m, n, dtype=torch.bfloat16, device="cuda")
    try:
        run(0, y)
        torch.cuda.synchronize()
        error = relative_error(y.double().cpu().numpy(), reference)
        if error > 4e-3:
            print(f"  Triton's result differs: relative error {error:.2e}")
        return graph_time(lambda i: run(i, y), calls)
    except Exception as error:  # noqa: BLE001 - reported, not hidden
        print(f"  Triton failed: {str(error).splitlines()[0][:160]}")
        return None


def write_json(path, records):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as out:
        json.dump(records, out, indent=1)
    print(f"wrote {path}")


def triton_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def w4a16_mx(x_ptr, w_ptr, s_ptr, y_ptr, M, N, K,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        pid_n = tl.program_id(0)
        pid_m = tl.program_id(1)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k0 in range(0, K, BLOCK_K):
            offs_k = k0 + tl.arange(0, BLOCK_K)
            x = tl.load(x_ptr + offs_m[:, None] * K + offs_k[None, :],
                        mask=offs_m[:, None] < M, other=0.0)
            offs_kb = k0 // 2 + tl.arange(0, BLOCK_K // 2)
            w = tl.load(w_ptr + offs_n[None, :] * (K // 2) + offs_kb[:, None])
            offs_ks = k0 // 32 + tl.arange(0, BLOCK_K // 32)
            s = tl.load(s_ptr + offs_n[:, None] * (K // 32) + offs_ks[None, :])
            acc = tl.dot_scaled(x, None, "bf16", w, s, "e2m1", acc)
        tl.store(y_ptr + offs_m[:, None] * N + offs_n[None, :], acc.to(tl.bfloat16),
                 mask=offs_m[:, None] < M)

    def run(x, w, s, y, m, n, k):
        grid = (triton.cdiv(n, 64), triton.cdiv(m, 16))
        w4a16_mx[grid](x, w, s, y, m, n, k, BLOCK_M=16, BLOCK_N=64, BLOCK_K=256)

    return run, triton.__version__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cubins", nargs="+")
    parser.add_argument("--json", default="")
    parser.add_argument("--no-check", action="store_true",
                        help="time kernels even when their output is wrong "
                             "(experiments that remove part of a kernel's work)")
    parser.add_argument("--only", default="",
                        help="time only the kernels whose name matches this "
                             "regular expression (A/B runs of one shape)")
    parser.add_argument("--min-k", type=int, default=4096,
                        help="skip the cubin's smaller (test) kernels")
    args = parser.parse_args()
    driver = Driver()
    kernels = []  # (name, module), every cubin's bf16 kernels in order
    for path in args.cubins:
        image = open(path, "rb").read()
        module = driver.load(image)
        found = sorted(set(re.findall(
            rb"fp4_(?:nvfp4|mxfp4)_w4a16" + W4A16_KIND.encode() + rb"?_\d+x\d+x\d+_bf16_bf16(?![_\w])",
            image)))
        kernels += [(raw, module) for raw in found]
    rng = np.random.default_rng(0)
    device = torch.cuda.get_device_name()
    bandwidth = copy_bandwidth()
    try:
        triton_run, triton_version = triton_kernel()
    except Exception as error:  # noqa: BLE001 - reported, not hidden
        triton_run, triton_version = None, f"unavailable: {error}"
    print(f"device: {device}; copy bandwidth {bandwidth / 1e12:.2f} TB/s; "
          f"torch {torch.__version__}; triton {triton_version}")
    header = (f"{'format':6} {'MxKxN':>16} {'ours us':>8} {'cuBLAS':>8} {'FP8':>8} "
              f"{'Triton':>8} {'floor':>7} {'TB/s':>6} {'TFLOP/s':>7} {'xcuBLAS':>8} {'xFP8':>6} {'xTriton':>8}")
    print(header)
    records = []
    for raw, module in kernels:
        name = raw.decode()
        fmt, kind, m, n, k = re.match(r"fp4_(\w+?)_w4a16(" + W4A16_KIND + r")?_(\d+)x(\d+)x(\d+)_", name).groups()
        m, n, k = int(m), int(n), int(k)
        if k < args.min_k or not re.search(args.only, name):
            continue
        grid, threads, shared = decode_launch(m, n, kind or "")
        fn = driver.function(module, name, shared=shared)
        data, scales, alpha, block, scale_decode = random_weights(rng, fmt, n, k)
        weight_bytes = data.nbytes + scales.nbytes
        x = torch.from_numpy(rng.standard_normal((m, k))).to(torch.bfloat16).cuda()
        w_ref = decode(data, scales, block, scale_decode) * float(alpha)
        # float64 on the GPU: the compute-bound shapes are too slow for numpy.
        reference = (x.double() @ torch.from_numpy(w_ref).cuda().double().t()).cpu().numpy()
        flops = 2.0 * m * n * k
        calls = 10 if flops > 1e11 else CALLS
        copies = copies_for(weight_bytes)
        wd = [torch.from_numpy(data.reshape(-1)).cuda() for _ in range(copies)]
        ws = [torch.from_numpy(scales.reshape(-1)).cuda() for _ in range(copies)]
        y = torch.empty(m * n, dtype=torch.bfloat16, device="cuda")
        map_params, x_map = activation_arguments(x, m, k, kind or "")
        params = [memref(x.reshape(-1)) + memref(wd[i]) + memref(ws[i]) +
                  [ctypes.c_float(alpha)] + map_params + memref(y) for i in range(copies)]

        def ours(i):
            driver.enqueue(fn, grid, threads, params[i % copies], shared, current_stream())

        y.fill_(float("nan"))  # poisoned
        ours(0)
        torch.cuda.synchronize()
        got = y.double().cpu().numpy().reshape(m, n)
        error = relative_error(got, reference)
        assert args.no_check or error < 4e-3, f"{name}: wrong result (relative error {error:.2e})"
        t_ours = graph_time(ours, calls)

        # cuBLAS BF16 and FP8: the same weights, dequantized.
        wb = torch.from_numpy(w_ref).to(torch.bfloat16).cuda()
        t_bf16, t_fp8 = time_cublas_and_fp8(x, wb, calls)

        t_triton = None
        if triton_run is not None and fmt == "mxfp4":
            t_triton = time_triton(lambda i, yt: triton_run(
                x, wd[i % copies], ws[i % copies], yt, m, n, k), m, n, reference, calls)
        moved = weight_bytes + x.numel() * 2 + m * n * 2
        floor = moved / bandwidth * 1e6
        record = {
            "shape": {"M": m, "K": k, "N": n}, "format": fmt, "activation": "bf16",
            "us": {"fp4-mlir": t_ours, "cublas_bf16": t_bf16, "scaled_mm_fp8": t_fp8,
                   "triton_dot_scaled": t_triton},
            "floor_us": floor, "weight_bytes": weight_bytes,
            "weight_TBps": weight_bytes / t_ours / 1e6,
            "TFLOPs": flops / t_ours / 1e6,
            "relative_error": error,
            "device": device, "date": datetime.date.today().isoformat(),
            "copy_bandwidth_TBps": bandwidth / 1e12,
            "torch": torch.__version__, "triton": triton_version,
        }
        records.append(record)
        tri = f"{t_triton:8.2f}" if t_triton else f"{'-':>8}"
        xtri = f"{t_triton / t_ours:8.2f}" if t_triton else f"{'-':>8}"
        print(f"{fmt:6} {f'{m}x{k}x{n}':>16} {t_ours:8.2f} {t_bf16:8.2f} {t_fp8:8.2f} "
              f"{tri} {floor:7.2f} {weight_bytes / t_ours / 1e6:6.2f} {flops / t_ours / 1e6:7.1f} "
              f"{t_bf16 / t_ours:8.2f} {t_fp8 / t_ours:6.2f} {xtri}")
    if args.json:
        write_json(args.json, records)

if __name__ == "__main__":
    main()

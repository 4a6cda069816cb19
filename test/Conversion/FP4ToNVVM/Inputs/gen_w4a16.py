#!/usr/bin/env python3
"""Writes w4a16.mlir: W4A16 matmuls (float activations x NVFP4 / MXFP4
weights) for the decode kernel's tests and benchmarks.

  python3 gen_w4a16.py > w4a16.mlir

Each case is (format, M, N, K, activation type, result type, form, E[,
bias type]) with form '2d' ([M, K] x [N, K]), 'batched' ([E, M, K] x
[E, N, K]), 'shared' ([E, M, K] x [N, K]) or 'gathered' (fp4.gathered_matmul:
M rows [M, K], each against the expert of E [E, N, K] its i64 index names);
with a bias type the matmul takes a bias [N] ([E, N] when batched or
gathered)."""

CASES = [
    # correctness: tiny, ragged N, M > 16 (two CTA rows), every activation
    # type, a bf16 epilogue, stacked experts, a shared weight
    ("nvfp4", 1, 64, 64, "bf16", "f32", "2d", 1),
    ("nvfp4", 3, 40, 128, "bf16", "f32", "2d", 1),
    ("nvfp4", 17, 33, 192, "bf16", "f32", "2d", 1),
    ("nvfp4", 5, 20, 64, "f32", "f32", "2d", 1),
    ("nvfp4", 2, 24, 1088, "f16", "bf16", "2d", 1),
    ("mxfp4", 1, 64, 64, "bf16", "f32", "2d", 1),
    ("mxfp4", 6, 36, 256, "bf16", "bf16", "2d", 1),
    ("mxfp4", 16, 8, 2048, "f32", "f32", "2d", 1),
    ("nvfp4", 3, 16, 64, "bf16", "f32", "batched", 2),
    ("nvfp4", 20, 16, 128, "bf16", "f32", "batched", 2),
    ("mxfp4", 3, 16, 64, "bf16", "f32", "shared", 2),
    # one activation row with K split over 4 warps (ragged N), over 2
    # (K parts of 65 pieces, f16 activations), and stacked experts
    ("nvfp4", 1, 37, 14336, "bf16", "f32", "2d", 1),
    ("mxfp4", 1, 20, 4160, "f16", "bf16", "2d", 1),
    ("nvfp4", 1, 16, 8192, "bf16", "f32", "batched", 2),
    # M >= 32: three CTA rows of the tensor-core kernel, ragged M and N
    ("nvfp4", 40, 24, 128, "bf16", "f32", "2d", 1),
    ("mxfp4", 33, 40, 64, "bf16", "bf16", "batched", 2),
    # 9-16 rows (the tensor-core decode kernel; the GEMV kernel takes up
    # to 8): ragged M and N, a bf16 and an f32 result, stacked experts
    ("mxfp4", 12, 40, 1024, "bf16", "bf16", "2d", 1),
    ("nvfp4", 13, 24, 256, "bf16", "f32", "batched", 2),
    "// Prefill kernels (PrefillKernel.cpp: 64 or more bf16 rows): 64-wide\n"
    "// tiles, ragged M and N, stacked experts, and 128-wide tiles (enough CTAs).",
    ("nvfp4", 64, 128, 128, "bf16", "f32", "2d", 1),
    ("mxfp4", 130, 75, 192, "bf16", "bf16", "2d", 1),
    ("nvfp4", 96, 40, 128, "bf16", "f32", "batched", 2),
    ("nvfp4", 1100, 4096, 128, "bf16", "f32", "2d", 1),
    ("mxfp4", 2100, 4000, 192, "bf16", "bf16", "2d", 1),
    # decode shapes of the benchmark (M x K x N = 1x4096x4096, 1x4096x14336,
    # 1x8192x8192, 16x8192x8192); the case tuples are (M, N, K)
    ("nvfp4", 1, 4096, 4096, "bf16", "bf16", "2d", 1),
    ("nvfp4", 1, 14336, 4096, "bf16", "bf16", "2d", 1),
    ("nvfp4", 1, 8192, 8192, "bf16", "bf16", "2d", 1),
    ("nvfp4", 16, 8192, 8192, "bf16", "bf16", "2d", 1),
    ("mxfp4", 1, 4096, 4096, "bf16", "bf16", "2d", 1),
    ("mxfp4", 1, 14336, 4096, "bf16", "bf16", "2d", 1),
    ("mxfp4", 1, 8192, 8192, "bf16", "bf16", "2d", 1),
    ("mxfp4", 16, 8192, 8192, "bf16", "bf16", "2d", 1),
    # the benchmark's M = 128 row
    ("nvfp4", 128, 8192, 8192, "bf16", "bf16", "2d", 1),
    ("mxfp4", 128, 8192, 8192, "bf16", "bf16", "2d", 1),
    "// Split-K prefill kernels (too few tiles to fill the SMs): two K parts\n"
    "// with ragged M, eight with a ragged N tile, four for stacked experts.",
    ("nvfp4", 200, 4352, 1024, "bf16", "bf16", "2d", 1),
    ("mxfp4", 100, 2100, 4096, "bf16", "f32", "2d", 1),
    ("nvfp4", 70, 2176, 2048, "bf16", "f32", "batched", 2),
    "// A bias in each kernel's epilogue: decode (one row, split K, experts\n"
    "// with one bias each), tensor-core decode, prefill, split-K prefill.",
    ("nvfp4", 1, 37, 14336, "bf16", "bf16", "2d", 1, "bf16"),
    ("mxfp4", 3, 16, 64, "bf16", "f32", "batched", 2, "f32"),
    ("nvfp4", 40, 24, 128, "bf16", "bf16", "2d", 1, "f32"),
    ("mxfp4", 130, 75, 192, "bf16", "bf16", "2d", 1, "bf16"),
    ("nvfp4", 96, 40, 128, "bf16", "f32", "batched", 2, "f32"),
    ("nvfp4", 200, 4352, 1024, "bf16", "bf16", "2d", 1, "f32"),
    "// 256 x 128 wgmma tiles with the weights in registers (sm_90a): an even\n"
    "// number of K steps with a bias, and batched with an odd number.",
    ("nvfp4", 2100, 4000, 256, "bf16", "f32", "2d", 1, "f32"),
    ("mxfp4", 1030, 4000, 320, "bf16", "bf16", "batched", 2),
    "// N a multiple of the 128-row tiles (ragged M with bf16 results;\n"
    "// batched f32 results with a bias).",
    ("mxfp4", 2100, 3840, 192, "bf16", "bf16", "2d", 1),
    ("nvfp4", 1030, 3840, 256, "bf16", "f32", "batched", 2, "f32"),
    "// Fewer rows than a tile (M = 100: rows past M clamped) and a ragged N\n"
    "// (its last tile moved back to end at N).",
    ("nvfp4", 100, 33800, 64, "bf16", "bf16", "2d", 1),
    "// N not a multiple of 8: the element-wise epilogue (NVFP4's alpha x 256).",
    ("nvfp4", 2100, 4004, 128, "bf16", "f32", "2d", 1),
    "// Gathered experts (fp4.gathered_matmul, the decode kernel, one row per\n"
    "// batch): ragged N; K split over warps with a bias per expert.",
    ("nvfp4", 5, 40, 256, "bf16", "f32", "gathered", 4),
    ("mxfp4", 6, 24, 8192, "bf16", "bf16", "gathered", 8, "f32"),
]


def case(fmt, m, n, k, act, res, form, e, bias=None):
    block, scale = (16, "f8E4M3FN") if fmt == "nvfp4" else (32, "f8E8M0FNU")
    gathered = form == "gathered"
    # Activations [E, M, K] (batched, shared) or [M, K]; weights [E, N, K]
    # (batched, gathered) or [N, K].
    lead = f"{e}x" if form in ("batched", "shared") else ""
    wlead = f"{e}x" if form in ("batched", "gathered") else ""
    x = f"tensor<{lead}{m}x{k}x{act}>"
    wd = f"tensor<{wlead}{n}x{k // 2}xi8>"
    ws = f"tensor<{wlead}{n}x{k // block}x{scale}>"
    q = f"!fp4.qtensor<{wlead}{n}x{k}xf4E2M1FN, {fmt}>"
    ids = f"tensor<{m}xi64>"
    y = f"tensor<{lead}{m}x{n}x{res}>"
    shape = f"{m}of{e}x{n}x{k}" if gathered else f"{lead}{m}x{n}x{k}"
    name = f"{fmt}_{form}_{shape}_{act}_{res}" + ("_bias" if bias else "")
    glob = ", %g: tensor<f32>" if fmt == "nvfp4" else ""
    gops = ", %g" if fmt == "nvfp4" else ""
    gtys = ", tensor<f32>" if fmt == "nvfp4" else ""
    iarg = f", %ids: {ids}" if gathered else ""
    bty = f"tensor<{wlead}{n}x{bias}>" if bias else ""
    barg = f", %b: {bty}" if bias else ""
    bop = f" bias(%b : {bty})" if bias else ""
    matmul = (f"fp4.gathered_matmul %x, %w[%ids]{bop} : {x}, {q}, {ids}" if gathered
              else f"fp4.scaled_matmul %x, %w{bop} : {x}, {q}")
    return (f"func.func @{name}(%x: {x}, %wd: {wd}, %ws: {ws}{glob}{iarg}{barg}) -> {y} {{\n"
            f"  %w = fp4.assemble %wd, %ws{gops} : {wd}, {ws}{gtys} -> {q}\n"
            f"  %y = {matmul} -> {y}\n"
            f"  return %y : {y}\n}}\n")


print("// Generated by gen_w4a16.py: W4A16 matmuls for the decode kernel.")
for c in CASES:
    print(c if isinstance(c, str) else case(*c), end="\n" if isinstance(c, str) else "")

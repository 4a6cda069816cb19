//===- Passes.td - fp4 conversions ---------------------*- tablegen -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_CONVERSION_PASSES_TD
#define FP4_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertFP4ToLinalg : Pass<"convert-fp4-to-linalg", "ModuleOp"> {
  let summary = "Lower fp4 dequantize and scaled_matmul to linalg, arith and tensor";
  let description = [{
    The CPU path: every quantized operand is expanded from its storage form
    (packed codes, scales, global scale) to float32 with a `linalg.generic`
    whose body unpacks the code and reads its value and its scale's value from
    16- or 256-entry tables that the numerics library computes, so the
    decoded values are exactly those of `fp4-quant dequantize`:

    ```
    value = decode(code) * (decode(scale) * global_scale)
    ```

    `fp4.scaled_matmul` becomes a float32 contraction `lhs x rhs^T` (plain,
    batched, or batched against shared weights) into a zero fill, rounded
    once to the result element type. The weight is decoded into `[.., K, N]`
    and the contraction's loops run `([b,] k, m, n)`: the innermost loop is
    a contiguous multiply-add that LLVM vectorizes, and every output still
    adds its products in `k` order. The contraction carries
    `fp4.cpu_contraction` for `fp4-tile-cpu-contractions`. Quantized values come from
    `fp4.constant`, `fp4.assemble` or a run-time `fp4.quantize` (of a
    statically shaped activation), which becomes a call into the CPU runtime
    (`fp4rt_quantize_*`, lib/Runtime) so that activations are quantized by
    the numerics library itself. Not supported (an error says so): quantized
    function arguments, dynamic shapes at run-time quantization and swizzled
    scale layouts.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::tensor::TensorDialect"];
}

def ConvertFP4ToLLVM : Pass<"convert-fp4-to-llvm", "ModuleOp"> {
  let summary = "Lower a module with fp4 ops all the way to the LLVM dialect for the CPU";
  let description = [{
    The pass form of the pipeline `fp4-lower-to-cpu`: it runs exactly that
    pipeline (`convert-fp4-to-linalg`, `fp4-tile-cpu-contractions`,
    bufferization, loops, then upstream's conversions to LLVM) on the
    module, for hosts that add passes by name or by constructor rather than
    parse named pipelines (pass plugins, C API users). The fp4 ops are not
    converted to LLVM directly: they go through linalg so that decoding and
    contractions reach LLVM as plain loops that it vectorizes, with the
    numerics of the numerics library (see convert-fp4-to-linalg).

    ```
    fp4-opt model.fp4.mlir -convert-fp4-to-llvm
    ```
  }];
}

def FP4CopiesToLoops : Pass<"fp4-copies-to-loops"> {
  let summary = "Rewrite memref.copy between strided buffers as linalg.copy, so that it lowers to loops";
  let description = [{
    After bufferization, copies into subviews (a KV-cache update, a
    concatenation) have strided layouts, and `finalize-memref-to-llvm`
    lowers such a `memref.copy` to a call of `memrefCopy` from MLIR's C
    runner utilities: a library from fp4-compile would then need
    `libmlir_c_runner_utils`. As `linalg.copy` they become plain loops
    (`convert-linalg-to-loops`). Copies between identity layouts stay
    `memref.copy` (one `memcpy`).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def FP4FreeHostBuffers : Pass<"fp4-free-host-buffers", "::mlir::func::FuncOp"> {
  let summary = "Free the host buffers of bufferized host code with GPU launches before it returns";
  let description = [{
    For host code with GPU launches (`fp4-lower-to-cpu{gpu-launches}`),
    where ownership-based buffer deallocation does not apply (it refuses
    `gpu.wait` and would free device buffers and resident weights too):
    every `memref.alloc` in the body of a single-block function gets a
    `memref.dealloc` just before the return, unless the buffer or a view of
    it is returned, is passed to a call that returns a memref, leaves as a
    pointer or through a cast the analysis cannot follow, or is already
    freed. The GPU
    lowering completes every asynchronous copy with a `gpu.wait` before the
    host reads a result, so no copy is in flight at the return. Buffers
    allocated inside loops are not handled.

    ```mlir
    %a = memref.alloc() : memref<256x128xbf16>   // an intermediate
    %r = memref.alloc() : memref<49152xf32>      // the result
    ...
    gpu.wait [%t]
    %v = memref.expand_shape %r [[0, 1]] ...
    memref.dealloc %a : memref<256x128xbf16>     // added
    return %v : memref<256x192xf32>
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def ConvertFP4ToNVVM : Pass<"convert-fp4-to-nvvm", "ModuleOp"> {
  let summary = "Lower fp4 scaled matmuls to block-scaled MMA kernels (NVVM): Blackwell tensor cores, or their Hopper CUDA-core twin";
  let description = [{
    Rewrites each `fp4.scaled_matmul` of FP4 operands `[M, K] x [N, K]`,
    `[E, M, K] x [N, K]` (a shared weight: E * M rows) or
    `[E, M, K] x [E, N, K]` (stacked experts: grid z = E) into a kernel in
    the `gpu.module @fp4_kernels` (target `#nvvm.target<chip = ...>`) and a
    `gpu.launch_func` on the operands' storage buffers.

    W4A16 (a bf16, f16 or f32 activation times an NVFP4 or MXFP4 weight), on
    every chip: a CUDA-core decode kernel (f16/f32 activations, or up to 4
    bf16 rows; the weights expanded in registers, f32 FMAs), for 5 to 63
    bf16 rows a kernel that expands the weights to exact bf16 in registers
    and multiplies on the tensor cores with `mma.sync.m16n8k16`, and for 64
    bf16 rows or more the prefill kernel: 128-row tiles whose weights are
    expanded once per CTA into two shared-memory buffers (dynamic shared
    memory), multiplied by `wgmma.mma_async` on `sm_90a` and by `ldmatrix` +
    `mma.sync` elsewhere. The result is f32 or bf16.

    `chip = sm_120a`: one warp per 16 x 8 output tile issues
    `nvvm.mma.block_scale` m16n8k64 over K:
    * NVFP4 x NVFP4: `kind::mxf4nvf4`, `scale_vec::4X`, UE4M3 scales; the two
      global scales multiply the result in the epilogue;
    * MXFP4 x MXFP4: `kind::mxf4`, `scale_vec::2X`, UE8M0 scales.

    Operand fragments are loaded from global memory in the PTX ISA's
    m16n8k64 layout (A: four 32-bit registers of eight E2M1 codes, rows
    `g` / `g + 8`, columns `8t..8t+7` and `+32`; B: two registers, column
    `g`). The scale registers hold the four (NVFP4) or two (MXFP4) scale
    bytes of one row of A (lane `l` holds row `(l % 2) * 8 + l / 4`) or one
    column of B (`l / 4`), with byte and thread selectors 0. Rows and columns
    beyond M and N are guarded (zero operands, no store). This is the first
    kernel: no shared-memory staging or pipelining yet, and no host runtime
    (issue #7). It cannot run here (no Blackwell GPU): ptxas, the SASS and
    its sm_90a twin check it.

    `chip = sm_90a` (or `sm_90`): the same kernel with the MMA replaced by
    its CUDA-core twin (Hopper has no FP4 tensor cores): each lane takes B's
    registers of every column from the lane holding them (shuffles),
    multiplies decoded codes and scales (exact products) and the quad sums
    the partial dot products. It shares the tiling, loads, scale handling
    and epilogue with sm_120a, so they run on the H100.

    `chip = sm_100a`: one CTA of 128 threads per 128 x 128 tile; the
    accumulator and the scales live in tensor memory (`tcgen05.alloc`,
    `tcgen05.cp.32x128b.warpx4`), operands go through two shared-memory
    stages in the K-major no-swizzle layout, thread 0 issues
    `tcgen05.mma.block_scale` (block16 for NVFP4, block32 for MXFP4) and
    commits it to the stage's mbarrier, and the epilogue reads the
    accumulator with `tcgen05.ld` (docs/gpu.md lists the encodings). Not
    run (no Blackwell GPU): ptxas and the SASS check it.

    Checked before any code is generated, with an error that names the fix:
    the chip (`sm_100a`, `sm_120a` or `sm_90a`; `sm_100` or `sm_120` without
    `a` has no block-scaled MMA), the formats (both
    operands NVFP4 or both MXFP4, linear scales), K a multiple of 64, static
    shapes. An operand quantized on the host (`fp4.quantize` of an
    activation) is read through `fp4.disassemble`, which the CPU lowering
    computes.

    The host side copies every operand to device memory (`gpu.alloc`,
    `gpu.memcpy`) and the result back, on one stream (async tokens), and
    waits before the host reads the result. Constant operands (the weights'
    codes and scales) are not copied per call: `fp4gpuResidentBytes`, a GPU
    runtime function, returns their device copy, made on the first call and
    kept.

    With `cpu-fallback`, a matmul the kernels cannot take (an FP8 layer, K
    not a multiple of 64, ...) stays for the CPU lowering with a remark
    saying why, instead of failing the pass: whole programs for a GPU target
    (`fp4-compile --target=sm_90a -o model.so`) use it.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_120a\"",
           "The target chip">,
    Option<"cpuFallback", "cpu-fallback", "bool", /*default=*/"false",
           "Leave the matmuls the kernels cannot take for the CPU (a remark "
           "says why) instead of failing">,
    Option<"residentWeights", "resident-weights", "bool", /*default=*/"true",
           "Keep constant operands (weights) on the device after their first "
           "use (fp4gpuResidentBytes); false copies them on every call">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::NVVM::NVVMDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def FP4TileCPUContractions : Pass<"fp4-tile-cpu-contractions"> {
  let summary = "Tile the weight decodes (and optionally the contractions) of convert-fp4-to-linalg for the CPU caches";
  let description = [{
    Weight decodes marked `fp4.cpu_transpose` read codes `[.., N, K]` and
    write floats `[.., K, N]`; they are tiled 64 (n) x 8 (k) (`scf.for`,
    through the TilingInterface) so that the written rows stay in the cache
    until their lines are full.

    Contractions marked `fp4.cpu_contraction` (loops `([b,] k, m, n)`) are
    tiled over `m` and `n` when `m-tile` / `n-tile` are set, with `k` whole
    inside a tile. Off by default: on the 2-core AMD EPYC build machine the
    untiled `(k, m, n)` loop was faster (445 ms against 651 ms with 16 x 128
    tiles for 256 x 4096 x 4096, see docs/benchmarks.md). Either way each
    output adds its products in `k` order from zero, so results are bit for
    bit those of the untiled loops. The markers are removed.
  }];
  let options = [
    Option<"mTile", "m-tile", "int64_t", /*default=*/"0",
           "Rows of the output per contraction tile (0: not tiled)">,
    Option<"nTile", "n-tile", "int64_t", /*default=*/"0",
           "Columns of the output per contraction tile (0: not tiled)">,
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // FP4_CONVERSION_PASSES_TD

//===- Kernels.h - pieces shared by the NVVM kernel builders ---*- C++ -*-===//
//
// Part of fp4-mlir.
//
// convert-fp4-to-nvvm builds one kernel per fp4.scaled_matmul shape and
// format: the warp-tiled mma.sync kernel of sm_120a (and its sm_90a twin)
// in FP4ToNVVM.cpp, the tcgen05 kernel of sm_100a in Tcgen05Kernel.cpp.
// Both take the same arguments and read the same buffers (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#ifndef FP4_LIB_CONVERSION_FP4TONVVM_KERNELS_H
#define FP4_LIB_CONVERSION_FP4TONVVM_KERNELS_H

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace mlir::fp4::nvvm_kernels {

/// Which block-scaled MMA a pair of operand formats takes on sm_120a.
struct MmaKind {
  NVVM::MMABlockScaleKind kind;
  NVVM::ScaleVecSize scaleVec;
  NVVM::BlockScaleFormat scaleFormat;
  int64_t scalesPerK64; // scale bytes per row per 64 elements of K
  bool twoLevel;        // NVFP4: global scales in the epilogue
  StringRef name;
};

/// The MMA kind of `type` (both operands must have the same), or failure
/// with a reason in `why`.
FailureOr<MmaKind> mmaKindOf(QuantizedTensorType type, std::string &why);

/// Loads `bytes` (2 or 4) consecutive bytes at `index` of a 1-D i8 buffer
/// as one little-endian i32 (byte 0 lowest), or 0 where `valid` is false.
/// Every index is a multiple of `bytes` (rows hold multiples of 32 bytes
/// and 4 or 2 scale bytes per 64 elements), so the load is one aligned
/// word, given buffers aligned that much (allocations are).
Value loadWord(OpBuilder &b, Location loc, Value buffer, Value index,
               Value valid, int64_t bytes);

/// The shape of one kernel: [E x] [M, K] x [N, K], K a multiple of 64.
struct KernelShape {
  int64_t m, n, k;
  bool batched; // grid z walks E stacked operands
};

/// The kernel signature every builder produces:
///   (a, sa, b, sb : memref<?xi8>, alpha : f32, out : memref<?xf32>)
gpu::GPUFuncOp createKernelFunc(OpBuilder &b, Location loc, StringRef name);

/// sm_100a: one 128 x 128 output tile per CTA of 128 threads, accumulated
/// in tensor memory by tcgen05.mma.block_scale (Tcgen05Kernel.cpp).
gpu::GPUFuncOp buildTcgen05Kernel(OpBuilder &b, Location loc, StringRef name,
                                  const KernelShape &shape,
                                  const MmaKind &kind);
/// The launch geometry of buildTcgen05Kernel's kernel for `shape`:
/// {grid x, grid y, block x}.
std::array<int64_t, 3> tcgen05Launch(const KernelShape &shape);

} // namespace mlir::fp4::nvvm_kernels

#endif // FP4_LIB_CONVERSION_FP4TONVVM_KERNELS_H

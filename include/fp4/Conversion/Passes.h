//===- Passes.h - fp4 conversions -------------------------------*- C++ -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_CONVERSION_PASSES_H
#define FP4_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir {
class RewritePatternSet;
namespace fp4 {

#define GEN_PASS_DECL
#include "fp4/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "fp4/Conversion/Passes.h.inc"

/// Patterns lowering fp4.dequantize and fp4.scaled_matmul to linalg.
void populateFP4ToLinalgPatterns(RewritePatternSet &patterns);

/// The markers convert-fp4-to-linalg leaves for fp4-tile-cpu-contractions:
/// on its contractions, and on weight decodes that write [.., K, N].
constexpr const char *kCPUContractionAttr = "fp4.cpu_contraction";
constexpr const char *kCPUTransposeAttr = "fp4.cpu_transpose";

/// convert-fp4-to-linalg, fp4-tile-cpu-contractions, then bufferization and the standard lowering of
/// linalg, arith, math, memref and func to the LLVM dialect. With
/// `gpuLaunches`, also the host side of GPU kernels (gpu-to-llvm: launches,
/// device buffers and streams become calls to the mgpu* runtime functions).
void buildLowerToCPUPipeline(OpPassManager &pm, bool gpuLaunches = false);

/// The device side of the GPU path: convert-fp4-to-nvvm{chip}, then the
/// kernels of gpu.module @fp4_kernels to the NVVM/LLVM dialect, ready for
/// gpu-module-to-binary.
void buildLowerToNVVMPipeline(OpPassManager &pm, StringRef chip,
                              bool cpuFallback = false,
                              bool residentWeights = true);
void registerFP4ConversionPipelines();

} // namespace fp4
} // namespace mlir

#endif // FP4_CONVERSION_PASSES_H

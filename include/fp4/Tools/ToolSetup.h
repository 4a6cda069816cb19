//===- ToolSetup.h - what the fp4 tools register and run ---------*- C++ -*-===//
//
// Part of fp4-mlir. Shared by fp4-opt, fp4-run and fp4-compile.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_TOOLSETUP_H
#define FP4_TOOLS_TOOLSETUP_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"

#include <string>

namespace mlir::fp4 {

/// The LLVM optimization level of fp4-run's JIT and fp4-compile. O2, not
/// O3: on the build machine O3 took 2.7x longer to compile the bundled Llama
/// block (3.68 s against 1.36 s) for the same run time (0.258 ms), and a
/// 64x4096x4096 FP8 layer ran as fast (132 ms) with byte-identical outputs.
constexpr unsigned kLLVMOptLevel = 2;

/// Initializes LLVM's native target and its assembly printer, once per
/// process: what the JIT and the object-file emission of fp4-compile need.
void initializeNativeTarget();

/// Registers every upstream pass and every fp4 pass and pipeline.
void registerAllFP4Passes();

/// Every upstream dialect, extension and LLVM IR translation, and fp4.
void registerAllFP4Dialects(DialectRegistry &registry);

/// Runs fp4-quantize-pipeline{quantizeOptions} when `quantize` is set, then
/// fp4-lower-to-cpu; marks public functions for MLIR's C interface first.
/// `gpuLaunches`: the module also launches GPU kernels (already compiled
/// into a gpu.binary), whose host side is lowered too.
LogicalResult lowerForCPU(ModuleOp module, bool quantize,
                          const std::string &quantizeOptions,
                          std::string &error, bool gpuLaunches = false);

/// The element types a compiled function's tensors may have at its boundary
/// and how they are named in signatures: f32, f16, bf16, i64, i32, i8, and
/// u8 for the 8-bit float types (f8E4M3FN, f8E5M2, f8E8M0FNU: raw bytes, as
/// NumPy holds them without ml_dtypes). Null for any other type.
const char *boundaryTypeName(Type elementType);

/// The tensor signature of a function as fp4-compile records it in a shared
/// library (symbol `__fp4_signature_<name>`) for fp4-run:
/// "f32:1x8x64,i64:1x8->f32:1x8x96" (element types as boundaryTypeName;
/// rank-0 tensors have no dimensions). Empty if a type is not a statically
/// shaped tensor of those.
std::string formatSignature(FunctionType type);

} // namespace mlir::fp4

#endif // FP4_TOOLS_TOOLSETUP_H

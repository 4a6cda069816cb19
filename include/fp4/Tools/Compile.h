//===- Compile.h - fp4-compile's driver as a library -------------*- C++ -*-===//
//
// Part of fp4-mlir. Used by the fp4-compile tool and by the Python package
// (fp4mlir.compile), so that both compile the same way, in process.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_COMPILE_H
#define FP4_TOOLS_COMPILE_H

#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::fp4 {

/// What to build (the options of fp4-compile; docs/runtime.md).
struct CompileOptions {
  /// "cpu", or a GPU chip: "sm_100a", "sm_120a", "sm_90a".
  std::string target = "cpu";
  /// "so" (a shared library), "obj", "llvm" or "mlir" (the whole program);
  /// for a GPU target also "ptx" or "cubin" ("mlir" is then the kernels'
  /// NVVM).
  std::string emit = "so";
  /// Run fp4-quantize-pipeline{quantizeOptions} first.
  bool quantize = false;
  std::string quantizeOptions;
  /// GPU targets: keep the weights on the device after the first call.
  bool residentWeights = true;
  /// The input's name in messages.
  std::string sourceName = "<module>";
};

/// Compiles `module` (it is lowered in place) into `outputFile`. On failure
/// returns failure with a one-line reason in `error`; located diagnostics
/// (bad IR, an unsupported format/target pair, ...) go to the context's
/// diagnostic handler first.
LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            const std::string &outputFile, std::string &error);

} // namespace mlir::fp4

#endif // FP4_TOOLS_COMPILE_H

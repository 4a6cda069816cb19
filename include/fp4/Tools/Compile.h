//===- Compile.h - fp4-compile's driver as a library ------------*- C++ -*-===//
//
// Part of fp4-mlir. Used by the fp4-compile tool and by the Python package
// (fp4mlir.compile), so that both compile the same way, in process.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_COMPILE_H
#define FP4_TOOLS_COMPILE_H

#include "fp4/Tools/DriverOptions.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::fp4 {

/// Compiles `module` (it is lowered in place) into `outputFile`. On failure
/// returns failure with a one-line reason in `error`; located diagnostics
/// (bad IR, an unsupported format/target pair, ...) go to the context's
/// diagnostic handler first.
LogicalResult compileModule(ModuleOp module, const CompileOptions &options,
                            const std::string &outputFile, std::string &error);

} // namespace mlir::fp4

#endif // FP4_TOOLS_COMPILE_H

//===- Passes.h - fp4 dialect transformations -------------------*- C++ -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_TRANSFORMS_PASSES_H
#define FP4_DIALECT_FP4_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace fp4 {

#define GEN_PASS_DECL
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"

} // namespace fp4
} // namespace mlir

#endif // FP4_DIALECT_FP4_TRANSFORMS_PASSES_H

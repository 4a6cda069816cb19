//===- LoweringUtils.h - what the CPU and GPU lowerings share ----*- C++ -*-===//
//
// Part of fp4-mlir. The storage tensors of a quantized value, and elementwise
// element-type conversion, for convert-fp4-to-linalg and convert-fp4-to-nvvm.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_CONVERSION_LOWERINGUTILS_H
#define FP4_CONVERSION_LOWERINGUTILS_H

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::fp4 {

/// The storage form of a quantized value: packed codes, scales and (two-
/// level scaling) the global scale, else null.
struct StorageParts {
  Value data, scales, global;
};

/// The storage parts of `quantized` when it is made by fp4.assemble (its
/// operands) or fp4.constant (materialized as arith.constant at the
/// builder's insertion point); failure for any other producer.
inline FailureOr<StorageParts> getStorageParts(OpBuilder &b, Location loc,
                                               Value quantized) {
  if (auto assemble = quantized.getDefiningOp<AssembleOp>())
    return StorageParts{assemble.getData(), assemble.getScales(),
                        assemble.getGlobalScale()};
  if (auto constant = quantized.getDefiningOp<ConstantOp>()) {
    auto materialize = [&](Attribute attr) -> Value {
      if (!attr)
        return {};
      return arith::ConstantOp::create(b, loc, cast<TypedAttr>(attr));
    };
    return StorageParts{materialize(constant.getData()),
                        materialize(constant.getScales()),
                        materialize(constant.getGlobalScaleAttr())};
  }
  return failure();
}

/// Converts a float, byte or integer tensor to `elementType` elementwise,
/// as one linalg.generic: arith.extf when widening (exact), arith.truncf
/// when narrowing (round to nearest even), arith.bitcast between types of
/// one width (raw scale bytes as i8 and as f8E4M3FN / f8E8M0FNU),
/// arith.extsi / arith.trunci between integers (expert indices as i32).
/// Returns `input` when the types already agree. Defined in
/// FP4ToLinalg.cpp.
Value convertElementType(OpBuilder &b, Location loc, Value input,
                         Type elementType);

/// Parses `pipeline` (upstream passes named in text) into `pm`. A name that
/// is not registered (a host that registered only fp4's passes) is not a
/// crash: the parser's message goes to stderr and a pass is added that
/// fails with `owner`'s located error when the pipeline runs. Defined in
/// FP4ToLinalg.cpp.
void addTextPipeline(OpPassManager &pm, StringRef pipeline, StringRef owner);

} // namespace mlir::fp4

#endif // FP4_CONVERSION_LOWERINGUTILS_H

//===- StorageParts.h - the storage tensors of a quantized value -*- C++ -*-===//
//
// Part of fp4-mlir. Shared by the CPU and GPU lowerings.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_CONVERSION_STORAGEPARTS_H
#define FP4_CONVERSION_STORAGEPARTS_H

#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

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

} // namespace mlir::fp4

#endif // FP4_CONVERSION_STORAGEPARTS_H

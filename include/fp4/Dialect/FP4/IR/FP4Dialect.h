//===- FP4Dialect.h - fp4 dialect, attributes and types ---------*- C++ -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4DIALECT_H
#define FP4_DIALECT_FP4_IR_FP4DIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include <optional>

#include "fp4/Dialect/FP4/IR/FP4Dialect.h.inc"
#include "fp4/Dialect/FP4/IR/FP4Enums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "fp4/Dialect/FP4/IR/FP4Attrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "fp4/Dialect/FP4/IR/FP4Types.h.inc"

namespace mlir::fp4 {

/// True for the element formats a `!fp4.qtensor` may hold.
bool isQuantizedElementType(Type type);

/// True for the 4-bit element formats (packed two per byte).
bool isFourBitElementType(Type type);

/// True for the KV-cache formats a module's `fp4.kv_cache` (and a policy
/// file's `kv_cache`) may name: "fp8", "nvfp4" or "keep".
bool isKVCacheFormatName(llvm::StringRef name);

} // namespace mlir::fp4

#endif // FP4_DIALECT_FP4_IR_FP4DIALECT_H

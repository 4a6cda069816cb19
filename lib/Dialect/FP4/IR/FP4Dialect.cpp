//===- FP4Dialect.cpp - fp4 dialect registration -------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace mlir::fp4;

#include "fp4/Dialect/FP4/IR/FP4Dialect.cpp.inc"

void FP4Dialect::initialize() {
  registerAttributes();
  registerTypes();
  addOperations<
#define GET_OP_LIST
#include "fp4/Dialect/FP4/IR/FP4Ops.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Discardable attributes
//===----------------------------------------------------------------------===//

// `fp4.kv_cache`, `fp4.act_amax` and `fp4.kv_amax` are read by passes and
// the report: checked here so that a malformed one is an error where it is
// written, not skipped where it is read.

/// A calibrated amax (fp4.act_amax, fp4.kv_amax): a finite positive f32.
static LogicalResult verifyAmaxAttr(Operation *op, NamedAttribute attr) {
  auto value = dyn_cast<FloatAttr>(attr.getValue());
  if (!value || !value.getType().isF32() || !value.getValue().isFinite() ||
      value.getValue().isNegative() || value.getValue().isZero())
    return op->emitError("'")
           << attr.getName().getValue()
           << "' expects a finite, positive f32 amax, got " << attr.getValue();
  return success();
}

bool mlir::fp4::isKVCacheFormatName(StringRef name) {
  return name == "fp8" || name == "nvfp4" || name == "keep";
}

LogicalResult FP4Dialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  if (attr.getName() == "fp4.act_amax")
    return verifyAmaxAttr(op, attr);
  if (attr.getName() == "fp4.smoothed") {
    auto alpha = dyn_cast<FloatAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !alpha || !alpha.getType().isF64() ||
        !(alpha.getValueAsDouble() >= 0.0 && alpha.getValueAsDouble() <= 1.0))
      return op->emitError("'fp4.smoothed' marks a module smoothed by "
                           "fp4-smooth with its alpha, an f64 in [0, 1], got ")
             << attr.getValue();
  }
  if (attr.getName() == "fp4.kv_cache") {
    auto format = dyn_cast<StringAttr>(attr.getValue());
    if (!format || !isKVCacheFormatName(format.getValue()))
      return op->emitError("'fp4.kv_cache' on an operation names the caches' "
                           "format: \"fp8\", \"nvfp4\" or \"keep\", got ")
             << attr.getValue();
  }
  return success();
}

LogicalResult FP4Dialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned regionIndex,
                                                   unsigned argIndex,
                                                   NamedAttribute attr) {
  if (attr.getName() == "fp4.kv_amax")
    return verifyAmaxAttr(op, attr);
  if (attr.getName() != "fp4.kv_cache")
    return success();
  auto dict = dyn_cast<DictionaryAttr>(attr.getValue());
  auto format = dict ? dict.getAs<StringAttr>("format") : StringAttr();
  auto before = dict ? dict.getAs<IntegerAttr>("bytes_per_token_before")
                     : IntegerAttr();
  auto after =
      dict ? dict.getAs<IntegerAttr>("bytes_per_token_after") : IntegerAttr();
  if (!format || !before || !after || dict.size() != 3)
    return op->emitError("'fp4.kv_cache' on argument #")
           << argIndex
           << " expects {format = \"...\", bytes_per_token_before = N, "
              "bytes_per_token_after = N}, got "
           << attr.getValue();
  if (before.getInt() <= 0 || after.getInt() <= 0)
    return op->emitError("'fp4.kv_cache' on argument #")
           << argIndex << " expects positive byte counts";
  return success();
}

//===- FP4Dialect.cpp - fp4 dialect registration -------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/IR/FP4Ops.h"

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

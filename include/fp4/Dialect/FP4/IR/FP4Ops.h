//===- FP4Ops.h - fp4 dialect operations ------------------------*- C++ -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_IR_FP4OPS_H
#define FP4_DIALECT_FP4_IR_FP4OPS_H

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "fp4/Dialect/FP4/IR/FP4Ops.h.inc"

#endif // FP4_DIALECT_FP4_IR_FP4OPS_H

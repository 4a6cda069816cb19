//===- FP4.cpp - C API of fp4-mlir ----------------------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4-c/FP4.h"
#include "fp4/Conversion/Passes.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/CAPI/Registration.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(FP4, fp4, mlir::fp4::FP4Dialect)

void fp4RegisterPasses(void) {
  // Registering twice would abort on the duplicate pipeline names.
  static bool registered = [] {
    mlir::fp4::registerFP4Passes();
    mlir::fp4::registerFP4Pipelines();
    mlir::fp4::registerFP4ConversionPasses();
    mlir::fp4::registerFP4ConversionPipelines();
    return true;
  }();
  (void)registered;
}

//===- fp4-opt.cpp - the fp4-mlir optimizer driver ------------------------===//
//
// Part of fp4-mlir. Like mlir-opt, with the fp4 dialect registered beside the
// upstream dialects, extensions and passes.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::fp4::registerFP4Passes();
  mlir::fp4::registerFP4Pipelines();
  mlir::fp4::registerFP4ConversionPasses();
  mlir::fp4::registerFP4ConversionPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::fp4::FP4Dialect>();

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "fp4-mlir optimizer driver\n", registry));
}

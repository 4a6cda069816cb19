//===- fp4-opt.cpp - the fp4-mlir optimizer driver ------------------------===//
//
// Part of fp4-mlir. Like mlir-opt, with the fp4 dialect registered beside the
// upstream dialects, extensions and passes.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/ToolSetup.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::fp4::registerAllFP4Passes();

  mlir::DialectRegistry registry;
  mlir::fp4::registerAllFP4Dialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "fp4-mlir optimizer driver\n", registry));
}

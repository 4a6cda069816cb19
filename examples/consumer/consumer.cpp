//===- consumer.cpp - an out-of-tree tool built on the fp4-mlir package ---===//
//
// Part of fp4-mlir (examples/consumer).
//
// Reads a linalg module, runs fp4-quantize-pipeline with a preset and prints
// the result: what another MLIR-based compiler does to add fp4-mlir's
// quantization to its own pipeline.
//
//   fp4-consumer model.mlir [preset]
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/raw_ostream.h"

#include <string>

int main(int argc, char **argv) {
  if (argc < 2) {
    llvm::errs() << "usage: fp4-consumer model.mlir [preset]\n";
    return 2;
  }
  std::string preset = argc > 2 ? argv[2] : "moe-fp4-fp8";

  mlir::DialectRegistry registry;
  registry.insert<mlir::fp4::FP4Dialect, mlir::arith::ArithDialect,
                  mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect, mlir::tensor::TensorDialect>();
  mlir::MLIRContext context(registry);
  mlir::fp4::registerFP4Passes();
  mlir::fp4::registerFP4Pipelines();

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  mlir::PassManager pm(&context);
  if (mlir::failed(mlir::parsePassPipeline(
          "fp4-quantize-pipeline{preset=" + preset + "}", pm)) ||
      mlir::failed(pm.run(*module)))
    return 1;
  module->print(llvm::outs());
  llvm::outs() << "\n";
  return 0;
}

//===- ConvertFP4ToLLVM.cpp - fp4-lower-to-cpu as one pass ----------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::fp4 {
#define GEN_PASS_DEF_CONVERTFP4TOLLVM
#include "fp4/Conversion/Passes.h.inc"
} // namespace mlir::fp4

using namespace mlir;

namespace {

struct ConvertFP4ToLLVMPass
    : public mlir::fp4::impl::ConvertFP4ToLLVMBase<ConvertFP4ToLLVMPass> {
  /// The dialects every pass of the pipeline produces.
  void getDependentDialects(DialectRegistry &registry) const override {
    getPipeline().getDependentDialects(registry);
  }

  void runOnOperation() override {
    if (failed(runPipeline(getPipeline(), getOperation())))
      signalPassFailure();
  }

  /// Built on first use, not in the constructor: registration constructs
  /// the pass before the passes the pipeline names are registered.
  OpPassManager &getPipeline() const {
    if (!pipeline) {
      pipeline.emplace(ModuleOp::getOperationName());
      fp4::buildLowerToCPUPipeline(*pipeline);
    }
    return *pipeline;
  }

  mutable std::optional<OpPassManager> pipeline;
};

} // namespace

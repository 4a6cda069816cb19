//===- ToolSetup.cpp - what the fp4 tools register and run ----------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Tools/ToolSetup.h"
#include "fp4/Conversion/Passes.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/TargetSelect.h"

#include <mutex>

using namespace mlir;

void mlir::fp4::initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

void mlir::fp4::registerAllFP4Passes() {
  registerAllPasses();
  registerFP4Passes();
  registerFP4Pipelines();
  registerFP4ConversionPasses();
  registerFP4ConversionPipelines();
}

void mlir::fp4::registerAllFP4Dialects(DialectRegistry &registry) {
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<FP4Dialect>();
}

LogicalResult mlir::fp4::lowerForCPU(ModuleOp module, bool quantize,
                                     const std::string &quantizeOptions,
                                     std::string &error, bool gpuLaunches) {
  MLIRContext *context = module.getContext();
  for (auto func : module.getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      func->setAttr("llvm.emit_c_interface", UnitAttr::get(context));
  PassManager pm(context);
  if (quantize &&
      failed(parsePassPipeline("fp4-quantize-pipeline{" + quantizeOptions + "}",
                               pm))) {
    error = "bad quantization options '" + quantizeOptions + "'";
    return failure();
  }
  buildLowerToCPUPipeline(pm, gpuLaunches);
  if (failed(pm.run(module))) {
    error = "lowering for the CPU failed (see the errors above)";
    return failure();
  }
  return success();
}

const char *mlir::fp4::boundaryTypeName(Type e) {
  return e.isF32()                                          ? "f32"
         : e.isF16()                                        ? "f16"
         : e.isBF16()                                       ? "bf16"
         : e.isInteger(64)                                  ? "i64"
         : e.isInteger(32)                                  ? "i32"
         : e.isInteger(8)                                   ? "i8"
         : isa<Float8E4M3FNType, Float8E5M2Type, Float8E8M0FNUType>(e) ? "u8"
                                                            : nullptr;
}

std::string mlir::fp4::formatSignature(FunctionType type) {
  auto format = [](TypeRange types, std::string &out) -> bool {
    for (auto [i, t] : llvm::enumerate(types)) {
      auto tensor = dyn_cast<RankedTensorType>(t);
      if (!tensor || !tensor.hasStaticShape())
        return false;
      const char *name = boundaryTypeName(tensor.getElementType());
      if (!name)
        return false;
      out += (i ? "," : "") + std::string(name) + ":";
      for (auto [j, dim] : llvm::enumerate(tensor.getShape()))
        out += (j ? "x" : "") + std::to_string(dim);
    }
    return true;
  };
  std::string out;
  if (!format(type.getInputs(), out))
    return "";
  out += "->";
  if (!format(type.getResults(), out))
    return "";
  return out;
}

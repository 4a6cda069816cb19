//===- FP4Plugin.cpp - the fp4 dialect and passes for a stock mlir-opt ----===//
//
// Part of fp4-mlir.
//
// One shared library that is both a dialect plugin and a pass plugin:
//
//   mlir-opt --load-dialect-plugin=lib/FP4Plugin.so \
//            --load-pass-plugin=lib/FP4Plugin.so \
//            --pass-pipeline='builtin.module(fp4-quantize-pipeline{preset=moe-fp4-fp8})'
//
// The host mlir-opt must be built from the same LLVM/MLIR (22) and link
// libMLIR.so, as Debian's does: the plugin links the same libMLIR.so, so
// both see one MLIR (one set of TypeIDs). It registers only what fp4-mlir
// adds; the upstream dialects and passes are the host's.
//
//===----------------------------------------------------------------------===//

#include "fp4/Conversion/Passes.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

#include "llvm/Config/llvm-config.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "FP4", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) {
            registry->insert<fp4::FP4Dialect>();
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "FP4Passes", LLVM_VERSION_STRING, []() {
            fp4::registerFP4Passes();
            fp4::registerFP4Pipelines();
            fp4::registerFP4ConversionPasses();
            fp4::registerFP4ConversionPipelines();
          }};
}

//===- Pipelines.cpp - named fp4 pipelines --------------------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::fp4;

void mlir::fp4::buildQuantizePipeline(OpPassManager &pm,
                                      const QuantizePipelineOptions &options) {
  FP4AssignPrecisionOptions assign;
  assign.preset = options.preset;
  assign.policyFile = options.policy;
  pm.addPass(createFP4AssignPrecision(assign));
  if (options.smoothAlpha >= 0.0) {
    FP4SmoothOptions smooth;
    smooth.statsFile = options.calibration;
    smooth.alpha = options.smoothAlpha;
    smooth.foldIntoWeights = options.smoothFoldIntoWeights;
    pm.addPass(createFP4Smooth(smooth));
  }
  if (!options.calibration.empty()) {
    FP4ApplyCalibrationOptions calibrate;
    calibrate.statsFile = options.calibration;
    calibrate.method = options.calibrationMethod;
    calibrate.percentile = options.percentile;
    pm.addPass(createFP4ApplyCalibration(calibrate));
  }
  // Before fp4-quantize-linalg, so that its report sees the caches' formats.
  if (!options.kvCache.empty()) {
    FP4QuantizeKVCacheOptions kv;
    if (options.kvCache != "policy")
      kv.format = options.kvCache;
    pm.addPass(createFP4QuantizeKVCache(kv));
  }
  FP4QuantizeLinalgOptions quantize;
  quantize.report = options.report;
  quantize.weightBlockScales = options.weightBlockScales;
  quantize.weightFP8Scales = options.weightFP8Scales;
  pm.addPass(createFP4QuantizeLinalg(quantize));
  FP4FoldConstantsOptions fold;
  fold.swizzleScales = options.swizzleScales;
  pm.addPass(createFP4FoldConstants(fold));
  pm.addPass(createCanonicalizerPass());
}

void mlir::fp4::registerFP4Pipelines() {
  PassPipelineRegistration<QuantizePipelineOptions>(
      "fp4-quantize-pipeline",
      "Rewrite linalg linear layers into mixed FP4/FP8 under a precision "
      "policy, fold the weights, and clean up",
      buildQuantizePipeline);
}

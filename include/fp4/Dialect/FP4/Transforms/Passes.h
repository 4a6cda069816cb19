//===- Passes.h - fp4 dialect transformations -------------------*- C++ -*-===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_DIALECT_FP4_TRANSFORMS_PASSES_H
#define FP4_DIALECT_FP4_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir {
class RewritePatternSet;
namespace fp4 {

#define GEN_PASS_DECL
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "fp4/Dialect/FP4/Transforms/Passes.h.inc"

/// Options of the fp4-quantize-pipeline.
struct QuantizePipelineOptions
    : public PassPipelineOptions<QuantizePipelineOptions> {
  PassOptions::Option<std::string> preset{
      *this, "preset",
      llvm::cl::desc("Policy preset: moe-fp4-fp8, nvfp4, nvfp4-weight-only, "
                     "mxfp4, mxfp4-mxfp8, fp8"),
      llvm::cl::init("moe-fp4-fp8")};
  PassOptions::Option<std::string> policy{
      *this, "policy", llvm::cl::desc("JSON policy file (overrides preset)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> report{
      *this, "report",
      llvm::cl::desc("Write the quantization report to this file ('-': stdout)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> kvCache{
      *this, "kv-cache",
      llvm::cl::desc("KV caches: '' leaves them in float (the function's "
                     "signature is kept), 'policy' follows the preset or "
                     "policy file, 'fp8', 'nvfp4' or 'keep' "
                     "(fp4-quantize-kv-cache)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> calibration{
      *this, "calibration",
      llvm::cl::desc("A calibration statistics file (JSON): static "
                     "activation and KV-cache scales (fp4-apply-calibration)"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> calibrationMethod{
      *this, "calibration-method",
      llvm::cl::desc("max, percentile or mse"), llvm::cl::init("max")};
  PassOptions::Option<double> percentile{
      *this, "percentile",
      llvm::cl::desc("calibration-method=percentile: percent of values "
                     "under the amax"),
      llvm::cl::init(99.99)};
  PassOptions::Option<double> smoothAlpha{
      *this, "smooth-alpha",
      llvm::cl::desc("SmoothQuant before quantizing, with this alpha in "
                     "[0, 1] and the channel maxima of `calibration` "
                     "(fp4-smooth); negative: off. Static scales then need "
                     "calibration-method=max, or statistics of the smoothed "
                     "model"),
      llvm::cl::init(-1.0)};
  PassOptions::Option<bool> smoothFoldIntoWeights{
      *this, "smooth-fold-into-weights",
      llvm::cl::desc("fp4-smooth's fold-into-weights"), llvm::cl::init(false)};
  PassOptions::Option<std::string> weightBlockScales{
      *this, "weight-block-scales",
      llvm::cl::desc("NVFP4 weights' block scales: max, four_over_six or mse "
                     "(fp4-quantize-linalg)"),
      llvm::cl::init("max")};
  PassOptions::Option<std::string> weightFP8Scales{
      *this, "weight-fp8-scales",
      llvm::cl::desc("FP8 weights' tensor or channel scales: max or mse "
                     "(fp4-quantize-linalg)"),
      llvm::cl::init("max")};
  PassOptions::Option<bool> swizzleScales{
      *this, "swizzle-scales",
      llvm::cl::desc("Emit block scales in the Blackwell 128x4 tile layout"),
      llvm::cl::init(false)};
};

/// fp4-assign-precision, fp4-smooth (with `smooth-alpha`),
/// fp4-apply-calibration (with `calibration`), fp4-quantize-kv-cache (only
/// with `kv-cache`: it
/// changes the function's signature), fp4-quantize-linalg, fp4-fold-constants,
/// canonicalize: linalg with float weights in, mixed FP4/FP8 out.
void buildQuantizePipeline(OpPassManager &pm,
                           const QuantizePipelineOptions &options);

/// Registers the named pipelines (fp4-quantize-pipeline).
void registerFP4Pipelines();

} // namespace fp4
} // namespace mlir

#endif // FP4_DIALECT_FP4_TRANSFORMS_PASSES_H

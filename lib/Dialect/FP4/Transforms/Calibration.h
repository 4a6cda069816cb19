//===- Calibration.h - where calibration observes -----------------*- C++ -*-===//
//
// Part of fp4-mlir. Private to the fp4 transforms.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_LIB_DIALECT_FP4_TRANSFORMS_CALIBRATION_H
#define FP4_LIB_DIALECT_FP4_TRANSFORMS_CALIBRATION_H

#include "LinearLayers.h"
#include "fp4/Calibration/Calibration.h"
#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::fp4 {

/// The calibrated amax of a linear layer's activation (F32 attribute on the
/// layer), read by fp4-quantize-linalg.
constexpr const char *kActivationAmaxAttr = "fp4.act_amax";
/// The calibrated amax of a KV cache's entries (F32 argument attribute),
/// read by fp4-quantize-kv-cache for NVFP4's static global scale.
constexpr const char *kKVCacheAmaxAttr = "fp4.kv_amax";
/// The alpha fp4-smooth smoothed a module with (F64 module attribute).
constexpr const char *kSmoothedAttr = "fp4.smoothed";
/// The factors 1/s_j that fp4-smooth divided a layer's activation by
/// (dense f32 vector attribute on the layer): with them, the float model's
/// channel maxima c_j give the smoothed activation's maximum, max_j c_j/s_j.
/// A unit attribute records a layer fp4-smooth left alone.
constexpr const char *kSmoothInverseAttr = "fp4.smooth_inverse";

/// Reads the statistics file `statsFile` for `module` into `table`: a file
/// that cannot be read, and statistics gathered on the other model
/// (smoothed by fp4-smooth or not: the mark on `module` and the file's
/// "smooth_alpha" differ), are errors on `module` naming `pass`. A smoothed
/// model's activations are the float model's divided by the smoothing
/// factors, so the two models' statistics are not interchangeable.
/// With `acceptFloatStats`, the float model's statistics are accepted on a
/// smoothed module too (the caller derives the smoothed maxima);
/// `*floatStatsOnSmoothed` then says whether that is the case.
LogicalResult readStatsForModule(ModuleOp module, StringRef statsFile,
                                 StringRef pass,
                                 ::fp4::calibration::StatsTable &table,
                                 bool *floatStatsOnSmoothed = nullptr);

/// A tensor the precision policy quantizes at run time with a per-tensor
/// quantity, which calibration observes.
struct ObservationPoint {
  std::string name;       // the statistics key
  Value tensor;           // what is observed
  Operation *before;      // where the observer goes
  Operation *layer = nullptr; // the linear layer, for an activation
  func::FuncOp func;      // the function and argument, for a KV cache
  unsigned argIndex = 0;
  QuantizedTensorType type; // the tensor's quantized type (null: none fits)
};

/// Every observation point of an annotated module (fp4-assign-precision),
/// in program order, KV caches of a function first; names are unique.
std::vector<ObservationPoint> collectObservationPoints(ModuleOp module);

} // namespace mlir::fp4

#endif // FP4_LIB_DIALECT_FP4_TRANSFORMS_CALIBRATION_H

//===- Calibrate.h - fp4-calibrate's driver as a library ---------*- C++ -*-===//
//
// Part of fp4-mlir. Used by the fp4-calibrate tool (data from .npy files)
// and by the Python package (fp4mlir.calibrate, data from numpy arrays), so
// that both calibrate the same way, in process.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_CALIBRATE_H
#define FP4_TOOLS_CALIBRATE_H

#include "fp4/Support/Npy.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <string>
#include <vector>

namespace mlir::fp4 {

/// What to calibrate and how (the options of fp4-calibrate;
/// docs/calibration.md).
struct CalibrateOptions {
  std::string entry = "forward";
  std::string preset = "moe-fp4-fp8";
  std::string policyFile; // overrides the preset when set
  std::string method = "max"; // max, percentile or mse
  double percentile = 99.99;
  /// > 0: smooth first (fp4-smooth) with this alpha, then calibrate the
  /// smoothed model.
  double smoothAlpha = 0.0;
  bool smoothFoldIntoWeights = false;
  /// Write the statistics gathered here (JSON), or use these instead of
  /// running the model.
  std::string writeStats, readStats;
  /// Progress lines (compile time, batches per second); null: none.
  llvm::raw_ostream *progress = nullptr;
};

/// One calibration sample: one array per argument of the entry, each of
/// the argument's shape (one batch) or [S, ...shape] (S batches); `name`
/// names it in messages (a file, or "input 2").
struct CalibrationSample {
  std::vector<std::string> names;
  std::vector<::fp4::NdArray> arguments;
};

/// The calibration data: `count` samples, loaded one at a time by `load`
/// (which fills its sample, or returns false with a reason in its error).
struct CalibrationData {
  size_t count = 0;
  std::function<bool(size_t index, CalibrationSample &sample,
                     std::string &error)>
      load;
};

/// Calibrates `module` in place: fp4-assign-precision, optionally
/// fp4-smooth, the float program with observers run through the JIT over
/// `data` (or the statistics of options.readStats), fp4-apply-calibration.
/// On failure returns failure with a one-line reason in `error`; located
/// diagnostics go to the context's handler first. The fp4 passes must be
/// registered.
LogicalResult calibrateModule(ModuleOp module, const CalibrateOptions &options,
                              const CalibrationData &data, std::string &error);

} // namespace mlir::fp4

#endif // FP4_TOOLS_CALIBRATE_H

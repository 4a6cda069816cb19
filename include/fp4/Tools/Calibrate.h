//===- Calibrate.h - fp4-calibrate's driver as a library --------*- C++ -*-===//
//
// Part of fp4-mlir. Used by the fp4-calibrate tool (data from .npy files)
// and by the Python package (fp4mlir.calibrate, data from numpy arrays), so
// that both calibrate the same way, in process.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_CALIBRATE_H
#define FP4_TOOLS_CALIBRATE_H

#include "fp4/Support/Npy.h"
#include "fp4/Tools/DriverOptions.h"
#include "mlir/IR/BuiltinOps.h"

#include <functional>
#include <string>
#include <vector>

namespace mlir::fp4 {

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

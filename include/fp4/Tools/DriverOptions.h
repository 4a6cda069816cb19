//===- DriverOptions.h - the options of the compile and calibrate drivers -===//
//
// Part of fp4-mlir. Plain structs (no MLIR): fp4-compile and fp4-calibrate
// fill them from their command lines, the Python package from its keyword
// arguments, and both hand them to compileModule / calibrateModule
// (Compile.h, Calibrate.h).
//
//===----------------------------------------------------------------------===//

#ifndef FP4_TOOLS_DRIVEROPTIONS_H
#define FP4_TOOLS_DRIVEROPTIONS_H

#include <string>

namespace llvm {
class raw_ostream;
} // namespace llvm

namespace mlir::fp4 {

/// What to build (the options of fp4-compile; docs/runtime.md).
struct CompileOptions {
  /// "cpu", or a GPU chip: "sm_100a", "sm_120a", "sm_90a".
  std::string target = "cpu";
  /// "so" (a shared library), "obj", "llvm" or "mlir" (the whole program);
  /// for a GPU target also "ptx" or "cubin" ("mlir" is then the kernels'
  /// NVVM).
  std::string emit = "so";
  /// Run fp4-quantize-pipeline{quantizeOptions} first.
  bool quantize = false;
  std::string quantizeOptions;
  /// GPU targets: keep the weights on the device after the first call.
  bool residentWeights = true;
  /// The input's name in messages.
  std::string sourceName = "<module>";
};

/// What to calibrate and how (the options of fp4-calibrate;
/// docs/calibration.md).
struct CalibrateOptions {
  std::string entry = "forward";
  std::string preset = "moe-fp4-fp8";
  std::string policyFile;     // overrides the preset when set
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

} // namespace mlir::fp4

#endif // FP4_TOOLS_DRIVEROPTIONS_H

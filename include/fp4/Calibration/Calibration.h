//===- Calibration.h - statistics to static scales --------------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency (LLVM Support for JSON).
//
// Turns what the observers of a calibration run saw (fp4::runtime::
// ObserverStats, keyed by observer name) into a static amax per activation
// by one of three methods, and reads and writes the statistics as JSON so
// that they can be gathered elsewhere (docs/calibration.md).
//
//===----------------------------------------------------------------------===//

#ifndef FP4_CALIBRATION_CALIBRATION_H
#define FP4_CALIBRATION_CALIBRATION_H

#include "fp4/Numerics/Quantize.h"
#include "fp4/Runtime/CPURuntime.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace fp4::calibration {

using runtime::ObserverStats;

enum class Method : uint8_t {
  Max,        // the largest |x| seen
  Percentile, // the |x| below which `percentile` % of the values lie
  MSE,        // the multiple of the max with the least quantization error
};

std::string_view name(Method method);
std::optional<Method> parseMethod(std::string_view text);

struct MethodOptions {
  Method method = Method::Max;
  double percentile = 99.99;
};

/// The multiples of the observed max that Method::MSE tries: 0.25 to 1.5
/// in steps of 0.05.
std::vector<double> mseMultiples();
/// Method::MSE keeps the max unless a candidate lowers the sample's squared
/// error by more than this fraction.
constexpr double kMSEMargin = 0.02;

/// Statistics keyed by observer name.
using StatsTable = std::map<std::string, ObserverStats>;

/// The static amax of an activation with statistics `stats`, to be
/// quantized with `config` (used by Method::MSE, which quantizes the
/// sampled rows (or, for per-tensor FP8 without samples, points spread over
/// the histogram's bins, weighted by their counts) at each candidate amax
/// through the numerics library and
/// keeps the candidate with the least squared error if it beats the max by
/// kMSEMargin).
/// Returns nullopt with a reason in `why` when the statistics cannot give
/// one (nothing observed, no histogram or no samples for the method).
std::optional<float> chooseAmax(const ObserverStats &stats,
                                const MethodOptions &options,
                                const numerics::QuantConfig &config,
                                std::string &why);

/// Writes `table` as JSON to `path`. `smoothAlpha` records that the
/// statistics were gathered on a model smoothed by fp4-smooth with that
/// alpha (they do not fit the unsmoothed model). Returns an error message
/// or "".
std::string writeStats(const std::string &path, const StatsTable &table,
                       std::optional<double> smoothAlpha = std::nullopt);
/// Reads a JSON statistics file into `table` (and its "smooth_alpha", when
/// `smoothAlpha` is given). Only `amax` is required per observer. Returns an
/// error message (with the file and the key) or "".
std::string readStats(const std::string &path, StatsTable &table,
                      std::optional<double> *smoothAlpha = nullptr);

} // namespace fp4::calibration

#endif // FP4_CALIBRATION_CALIBRATION_H

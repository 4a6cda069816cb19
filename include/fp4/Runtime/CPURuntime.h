//===- CPURuntime.h - functions compiled CPU code calls ----------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency. Compiled modules call these through
// MLIR's C interface (`_mlir_ciface_` names, unranked memref descriptors):
// convert-fp4-to-linalg lowers run-time fp4.quantize to them, so activations
// are quantized by the same numerics library as weights.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_RUNTIME_CPURUNTIME_H
#define FP4_RUNTIME_CPURUNTIME_H

#include <cstdint>
#include <string>
#include <vector>

namespace fp4::runtime {

/// What an observer (fp4.observe) has seen of a tensor, viewed as rows of
/// its last dimension, over every call of a calibration run.
struct ObserverStats {
  static constexpr int64_t kHistogramBins = 2048;
  /// Values kept for searches that quantize them (whole rows).
  static constexpr int64_t kSampleLimit = 1 << 16;

  int64_t count = 0; // elements
  int64_t rows = 0;  // rows seen, over all calls
  int64_t rowLength = 0;
  float amax = 0.0f;
  /// The largest |x| of each position of the last dimension.
  std::vector<float> channelAmax;
  /// Counts of |x| in kHistogramBins equal bins over [0, histogramRange].
  /// The range doubles (adjacent bins merge) whenever a larger value comes.
  float histogramRange = 0.0f;
  std::vector<int64_t> histogram;
  /// A uniform sample of whole rows (reservoir sampling with a fixed seed:
  /// the same inputs in the same order give the same sample).
  std::vector<float> samples;
  /// The row holding `amax`, so that searches always see the largest value
  /// even when the sample does not.
  std::vector<float> maxRow;

  /// Adds `rows` x `cols` values (row-major). Returns false (and adds
  /// nothing) if one is NaN or infinite, or `cols` differs from earlier calls.
  bool add(const float *data, int64_t rows, int64_t cols);
  /// The |x| below which `percent` of the values lie (an upper bin edge).
  float percentile(double percent) const;
};

/// Sizes the process-wide observer table (ids 0 .. count-1), empty.
void resetObservers(int64_t count);
/// The table, for reading after a calibration run.
const std::vector<ObserverStats> &observers();
/// The first error an observer met: a non-finite input or a shape change.
struct ObserverFailure {
  int64_t id = -1; // -1: none
  std::string message;
};
const ObserverFailure &observerFailure();

} // namespace fp4::runtime

extern "C" {

/// MLIR's unranked memref: a rank and a pointer to the ranked descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
struct FP4UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

/// Quantizes `input` (float32, contiguous, viewed as [rows, last dim]) into
/// `data` (packed codes) and `scales` (one byte per scale, for UE4M3/UE8M0
/// schemes) and `global` (float32 scalar, two-level schemes), with the
/// scheme, element, rule and block-scale search numbered as fp4::numerics'
/// enums, and `staticAmax` a calibrated amax (0: measure the input;
/// QuantConfig).
/// Aborts with a message on non-finite input.
void _mlir_ciface_fp4rt_quantize_byte_scales(FP4UnrankedMemRef *input,
                                             FP4UnrankedMemRef *data,
                                             FP4UnrankedMemRef *scales,
                                             FP4UnrankedMemRef *global,
                                             int32_t scheme, int32_t element,
                                             int32_t rule,
                                             int32_t blockScales,
                                             float staticAmax);

/// fp4.observe: adds `input` (float32, contiguous, viewed as [rows, last
/// dim]) to observer `id`'s statistics (ignored outside calibration runs,
/// i.e. when `id` is beyond the table).
void _mlir_ciface_fp4rt_observe(FP4UnrankedMemRef *input, int64_t id);

/// The same for schemes with float32 scales (FP8 per tensor / channel, NF4);
/// `blockScales` is the numerics' BlockScales (FP8: max or mse).
void _mlir_ciface_fp4rt_quantize_f32_scales(
    FP4UnrankedMemRef *input, FP4UnrankedMemRef *data,
    FP4UnrankedMemRef *scales, int32_t scheme, int32_t element, int32_t rule,
    int32_t perChannel, int32_t blockScales, float staticAmax);
}

#endif // FP4_RUNTIME_CPURUNTIME_H

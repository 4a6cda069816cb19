//===- CPURuntime.cpp - functions compiled CPU code calls -----------------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Runtime/CPURuntime.h"
#include "fp4/Numerics/Quantize.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>

using namespace fp4::numerics;

namespace {

/// The aligned data pointer and element count of a contiguous memref.
struct View {
  char *data;
  int64_t elements, lastDim;
};

View viewOf(FP4UnrankedMemRef *memref, size_t elementSize) {
  const int64_t *d = static_cast<const int64_t *>(memref->descriptor);
  int64_t rank = memref->rank;
  // d[0] allocated, d[1] aligned, d[2] offset, d[3..] sizes, strides.
  char *aligned = reinterpret_cast<char *>(d[1]);
  View view{aligned + d[2] * elementSize, 1, rank ? d[3 + rank - 1] : 1};
  for (int64_t i = 0; i < rank; ++i)
    view.elements *= d[3 + i];
  return view;
}

[[noreturn]] void fail(const std::string &message) {
  std::fprintf(stderr, "fp4 runtime: error: %s\n", message.c_str());
  std::abort();
}

QuantizedTensor run(FP4UnrankedMemRef *input, int32_t scheme, int32_t element,
                    int32_t rule, bool perChannel, int32_t blockScales,
                    float staticAmax) {
  View in = viewOf(input, sizeof(float));
  QuantConfig config;
  config.scheme = static_cast<Scheme>(scheme);
  config.element = static_cast<ElementFormat>(element);
  config.rule = static_cast<Rule>(rule);
  config.perChannel = perChannel;
  config.blockScales = static_cast<BlockScales>(blockScales);
  config.staticAmax = staticAmax;
  config.threads = 1; // compiled code owns the threading
  TensorView view{in.data, InputType::F32, in.lastDim ? in.elements / in.lastDim : 0,
                  in.lastDim};
  QuantizedTensor q;
  std::string error = quantize(view, config, q);
  if (!error.empty())
    fail(error);
  return q;
}

void copyOut(const std::vector<uint8_t> &bytes, FP4UnrankedMemRef *memref,
             size_t elementSize, const char *what) {
  View out = viewOf(memref, elementSize);
  if (static_cast<size_t>(out.elements) * elementSize != bytes.size())
    fail(std::string("the ") + what + " buffer holds " +
         std::to_string(out.elements * elementSize) + " bytes, the quantizer "
         "produced " + std::to_string(bytes.size()));
  std::memcpy(out.data, bytes.data(), bytes.size());
}

} // namespace

extern "C" void _mlir_ciface_fp4rt_quantize_byte_scales(
    FP4UnrankedMemRef *input, FP4UnrankedMemRef *data,
    FP4UnrankedMemRef *scales, FP4UnrankedMemRef *global, int32_t scheme,
    int32_t element, int32_t rule, int32_t blockScales, float staticAmax) {
  QuantizedTensor q =
      run(input, scheme, element, rule, false, blockScales, staticAmax);
  copyOut(q.data, data, 1, "data");
  copyOut(q.scales, scales, 1, "scales");
  if (global && global->rank >= 0 && global->descriptor) {
    View g = viewOf(global, sizeof(float));
    if (g.elements == 1)
      std::memcpy(g.data, &q.globalScale, sizeof(float));
  }
}

extern "C" void _mlir_ciface_fp4rt_quantize_f32_scales(
    FP4UnrankedMemRef *input, FP4UnrankedMemRef *data,
    FP4UnrankedMemRef *scales, int32_t scheme, int32_t element, int32_t rule,
    int32_t perChannel, int32_t blockScales, float staticAmax) {
  QuantizedTensor q = run(input, scheme, element, rule, perChannel != 0,
                          blockScales, staticAmax);
  copyOut(q.data, data, 1, "data");
  copyOut(q.scales, scales, 4, "scales");
}

//===----------------------------------------------------------------------===//
// Observers (calibration)
//===----------------------------------------------------------------------===//

using fp4::runtime::ObserverStats;

bool ObserverStats::add(const float *data, int64_t numRows, int64_t cols) {
  if (rowLength && cols != rowLength)
    return false;
  float largest = 0.0f;
  for (int64_t i = 0; i < numRows * cols; ++i) {
    if (!std::isfinite(data[i]))
      return false;
    largest = std::max(largest, std::fabs(data[i]));
  }
  if (!rowLength) {
    rowLength = cols;
    channelAmax.assign(cols, 0.0f);
    histogram.assign(kHistogramBins, 0);
  }
  // Grow the histogram's range by doubling until it covers the new values.
  if (histogramRange == 0.0f)
    histogramRange = largest > 0.0f ? largest : 1.0f;
  while (largest > histogramRange) {
    for (int64_t b = 0; b < kHistogramBins / 2; ++b)
      histogram[b] = histogram[2 * b] + histogram[2 * b + 1];
    std::fill(histogram.begin() + kHistogramBins / 2, histogram.end(), 0);
    histogramRange *= 2.0f;
  }
  const float binsPerUnit = kHistogramBins / histogramRange;
  for (int64_t r = 0; r < numRows; ++r) {
    const float *row = data + r * cols;
    float rowMax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      float a = std::fabs(row[c]);
      rowMax = std::max(rowMax, a);
      channelAmax[c] = std::max(channelAmax[c], a);
      int64_t bin = std::min<int64_t>(static_cast<int64_t>(a * binsPerUnit),
                                      kHistogramBins - 1);
      ++histogram[bin];
    }
    if (maxRow.empty() || rowMax > amax) {
      maxRow.assign(row, row + cols);
      amax = rowMax;
    }
    // Reservoir sampling of whole rows, seeded by the row's index.
    int64_t capacityRows = std::max<int64_t>(kSampleLimit / cols, 1);
    int64_t keptRows = static_cast<int64_t>(samples.size()) / cols;
    if (keptRows < capacityRows) {
      samples.insert(samples.end(), row, row + cols);
    } else {
      std::mt19937_64 rng(static_cast<uint64_t>(rows) * 0x9E3779B97F4A7C15ull);
      int64_t slot = static_cast<int64_t>(rng() % static_cast<uint64_t>(rows + 1));
      if (slot < capacityRows)
        std::copy(row, row + cols, samples.begin() + slot * cols);
    }
    ++rows;
  }
  count += numRows * cols;
  return true;
}

float ObserverStats::percentile(double percent) const {
  if (count == 0)
    return 0.0f;
  double target = percent / 100.0 * static_cast<double>(count);
  int64_t cumulative = 0;
  for (int64_t b = 0; b < kHistogramBins; ++b) {
    cumulative += histogram[b];
    if (static_cast<double>(cumulative) >= target)
      return std::min(amax, histogramRange * static_cast<float>(b + 1) /
                                kHistogramBins);
  }
  return amax;
}

namespace {
std::mutex observerMutex;
std::vector<ObserverStats> observerTable;
fp4::runtime::ObserverFailure firstFailure;
} // namespace

void fp4::runtime::resetObservers(int64_t count) {
  std::lock_guard<std::mutex> lock(observerMutex);
  observerTable.assign(count, ObserverStats());
  firstFailure = {};
}

const std::vector<ObserverStats> &fp4::runtime::observers() {
  return observerTable;
}

const fp4::runtime::ObserverFailure &fp4::runtime::observerFailure() {
  return firstFailure;
}

extern "C" void _mlir_ciface_fp4rt_observe(FP4UnrankedMemRef *input,
                                           int64_t id) {
  View in = viewOf(input, sizeof(float));
  std::lock_guard<std::mutex> lock(observerMutex);
  if (id < 0 || id >= static_cast<int64_t>(observerTable.size()))
    return;
  int64_t cols = in.lastDim ? in.lastDim : 1;
  if (!observerTable[id].add(reinterpret_cast<const float *>(in.data),
                             in.elements / cols, cols) &&
      firstFailure.id < 0)
    firstFailure = {id, "a NaN or infinite activation, or a shape that "
                        "changed between calls"};
}

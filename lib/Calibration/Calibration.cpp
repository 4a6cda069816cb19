//===- Calibration.cpp - statistics to static scales ----------------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Calibration/Calibration.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace fp4::calibration;
namespace nx = fp4::numerics;

std::string_view fp4::calibration::name(Method method) {
  switch (method) {
  case Method::Max:
    return "max";
  case Method::Percentile:
    return "percentile";
  case Method::MSE:
    return "mse";
  }
  return "?";
}

std::optional<Method> fp4::calibration::parseMethod(std::string_view text) {
  for (Method method : {Method::Max, Method::Percentile, Method::MSE})
    if (name(method) == text)
      return method;
  return std::nullopt;
}

std::vector<double> fp4::calibration::mseMultiples() {
  std::vector<double> multiples;
  for (int step = 5; step <= 30; ++step)
    multiples.push_back(step * 0.05);
  return multiples;
}

namespace {

/// What the MSE search quantizes: rows of `rowLength` values, each counted
/// `weight` times (all 1 for sampled rows).
struct SearchSet {
  std::vector<float> values;
  std::vector<double> weights;
  int64_t rowLength = 0;
};

/// Squared error of `set` quantized with `config` (whose staticAmax is the
/// candidate), or nullopt if the quantizer refuses it.
std::optional<double> searchError(const SearchSet &set,
                                  const nx::QuantConfig &config) {
  int64_t rows = static_cast<int64_t>(set.values.size()) / set.rowLength;
  nx::TensorView view{set.values.data(), nx::InputType::F32, rows,
                      set.rowLength};
  nx::QuantizedTensor q;
  if (!nx::quantize(view, config, q).empty())
    return std::nullopt;
  std::vector<float> back(set.values.size());
  nx::dequantize(q, back.data());
  double sum = 0;
  for (size_t i = 0; i < back.size(); ++i) {
    double d = static_cast<double>(set.values[i]) - back[i];
    sum += set.weights[i] * d * d;
  }
  return sum;
}

/// The sampled rows and the row of the maximum (which a sample of a large
/// tensor may miss, and whose clipping must count).
SearchSet fromSamples(const ObserverStats &stats) {
  SearchSet set;
  set.values = stats.samples;
  if (static_cast<int64_t>(stats.maxRow.size()) == stats.rowLength)
    set.values.insert(set.values.end(), stats.maxRow.begin(),
                      stats.maxRow.end());
  set.weights.assign(set.values.size(), 1.0);
  set.rowLength = stats.rowLength;
  return set;
}

/// The histogram of |x| as one row: kPointsPerBin evenly spaced points in
/// every non-empty bin (capped at amax), each carrying its share of the
/// bin's count, and the maximum itself. Only for formats whose elements
/// are quantized independently given the per-tensor scale (FP8 per
/// tensor): block scales would need the values' arrangement in rows.
SearchSet fromHistogram(const ObserverStats &stats) {
  constexpr int kPointsPerBin = 8;
  SearchSet set;
  double width = stats.histogramRange / ObserverStats::kHistogramBins;
  for (int64_t b = 0; b < static_cast<int64_t>(stats.histogram.size()); ++b) {
    if (stats.histogram[b] == 0)
      continue;
    for (int i = 0; i < kPointsPerBin; ++i) {
      double x = (static_cast<double>(b) + (i + 0.5) / kPointsPerBin) * width;
      set.values.push_back(static_cast<float>(std::min<double>(x, stats.amax)));
      set.weights.push_back(static_cast<double>(stats.histogram[b]) /
                            kPointsPerBin);
    }
  }
  set.values.push_back(stats.amax);
  set.weights.push_back(1.0);
  set.rowLength = static_cast<int64_t>(set.values.size());
  return set;
}

} // namespace

std::optional<float> fp4::calibration::chooseAmax(
    const ObserverStats &stats, const MethodOptions &options,
    const nx::QuantConfig &config, std::string &why) {
  if (!(stats.amax > 0.0f) || !std::isfinite(stats.amax)) {
    why = "no non-zero value was observed";
    return std::nullopt;
  }
  switch (options.method) {
  case Method::Max:
    return stats.amax;
  case Method::Percentile:
    if (stats.histogram.empty() || stats.count == 0) {
      why = "the statistics have no histogram (needed by percentile)";
      return std::nullopt;
    }
    if (!(options.percentile > 0.0 && options.percentile <= 100.0)) {
      why = "the percentile must be in (0, 100]";
      return std::nullopt;
    }
    return std::max(stats.percentile(options.percentile),
                    stats.amax * 1e-6f); // never zero
  case Method::MSE: {
    SearchSet set;
    if (!stats.samples.empty() && stats.rowLength > 0 &&
        stats.samples.size() % stats.rowLength == 0) {
      set = fromSamples(stats);
    } else if (!stats.histogram.empty() && stats.histogramRange > 0.0f) {
      if (config.scheme != nx::Scheme::FP8 || config.perChannel) {
        why = "the statistics have no sampled rows, and an mse search over "
              "the histogram alone fits only per-tensor FP8 (block scales "
              "depend on how the values share rows)";
        return std::nullopt;
      }
      set = fromHistogram(stats);
    } else {
      why = "the statistics have no sampled rows or histogram (needed by "
            "mse)";
      return std::nullopt;
    }
    nx::QuantConfig candidate = config;
    candidate.staticAmax = stats.amax;
    std::optional<double> best = searchError(set, candidate);
    if (!best) {
      why = "the calibration values cannot be quantized in this format: " +
            candidate.check(1, set.rowLength);
      return std::nullopt;
    }
    // Another candidate must beat the max by a margin: smaller gains come
    // from where a few large sampled values happen to round, and do not
    // carry over to other inputs (docs/calibration.md, measured).
    const double atMax = *best;
    float chosen = stats.amax;
    for (double multiple : mseMultiples()) {
      candidate.staticAmax = static_cast<float>(stats.amax * multiple);
      std::optional<double> error = searchError(set, candidate);
      if (error && *error < *best && *error < (1.0 - kMSEMargin) * atMax) {
        best = error;
        chosen = candidate.staticAmax;
      }
    }
    return chosen;
  }
  }
  why = "unknown method";
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

namespace {

constexpr const char *kFormatName = "fp4-mlir calibration statistics";

template <typename T> llvm::json::Array toArray(const std::vector<T> &values) {
  llvm::json::Array array;
  array.reserve(values.size());
  for (const T &v : values)
    array.push_back(static_cast<std::conditional_t<std::is_floating_point_v<T>,
                                                   double, int64_t>>(v));
  return array;
}

} // namespace

std::string fp4::calibration::writeStats(const std::string &path,
                                         const StatsTable &table,
                                         std::optional<double> smoothAlpha) {
  llvm::json::Object observers;
  for (const auto &[name, stats] : table) {
    observers[name] = llvm::json::Object{
        {"count", stats.count},
        {"rows", stats.rows},
        {"row_length", stats.rowLength},
        {"amax", static_cast<double>(stats.amax)},
        {"channel_amax", toArray(stats.channelAmax)},
        {"histogram_range", static_cast<double>(stats.histogramRange)},
        {"histogram", toArray(stats.histogram)},
        {"samples", toArray(stats.samples)},
        {"max_row", toArray(stats.maxRow)},
    };
  }
  llvm::json::Object root{{"format", kFormatName},
                          {"version", 1},
                          {"observers", std::move(observers)}};
  if (smoothAlpha)
    root["smooth_alpha"] = *smoothAlpha;
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return path + ": " + ec.message();
  out << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  out.close();
  if (out.has_error()) {
    std::string message = out.error().message();
    out.clear_error();
    return path + ": " + message;
  }
  return "";
}

std::string fp4::calibration::readStats(const std::string &path,
                                        StatsTable &table,
                                        std::optional<double> *smoothAlpha) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return path + ": " + buffer.getError().message();
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed)
    return path + ": not JSON: " + llvm::toString(parsed.takeError());
  const llvm::json::Object *root = parsed->getAsObject();
  const llvm::json::Object *observers =
      root ? root->getObject("observers") : nullptr;
  if (!observers)
    return path + ": expects an object with \"observers\": {name: {\"amax\": "
                  "...}, ...}";
  if (smoothAlpha)
    smoothAlpha->reset();
  if (const llvm::json::Value *alpha = root->get("smooth_alpha")) {
    std::optional<double> value = alpha->getAsNumber();
    if (!value || !(*value >= 0.0 && *value <= 1.0))
      return path + ": \"smooth_alpha\" expects a number in [0, 1]";
    if (smoothAlpha)
      *smoothAlpha = value;
  }
  for (const auto &[key, value] : *observers) {
    std::string name = key.str();
    auto fail = [&](const std::string &what) {
      return path + ": observer '" + name + "': " + what;
    };
    const llvm::json::Object *entry = value.getAsObject();
    if (!entry)
      return fail("expects an object");
    ObserverStats stats;
    std::optional<double> amax = entry->getNumber("amax");
    if (!amax || !std::isfinite(*amax) || *amax < 0)
      return fail("expects \"amax\", a finite number >= 0");
    stats.amax = static_cast<float>(*amax);
    stats.count = entry->getInteger("count").value_or(0);
    stats.rows = entry->getInteger("rows").value_or(0);
    stats.rowLength = entry->getInteger("row_length").value_or(0);
    stats.histogramRange =
        static_cast<float>(entry->getNumber("histogram_range").value_or(0.0));
    auto readArray = [&](const char *field, auto &out) -> std::string {
      const llvm::json::Array *array = entry->getArray(field);
      if (!array)
        return "";
      for (const llvm::json::Value &v : *array) {
        std::optional<double> number = v.getAsNumber();
        if (!number || !std::isfinite(*number) || std::fabs(*number) > 1e18)
          return fail(std::string("\"") + field + "\" holds a non-number");
        out.push_back(
            static_cast<typename std::decay_t<decltype(out)>::value_type>(
                *number));
      }
      return "";
    };
    for (std::string error :
         {readArray("channel_amax", stats.channelAmax),
          readArray("histogram", stats.histogram),
          readArray("samples", stats.samples),
          readArray("max_row", stats.maxRow)})
      if (!error.empty())
        return error;
    if (!stats.histogram.empty()) {
      if (static_cast<int64_t>(stats.histogram.size()) !=
          ObserverStats::kHistogramBins)
        return fail("\"histogram\" expects " +
                    std::to_string(ObserverStats::kHistogramBins) + " bins");
      if (!(stats.histogramRange > 0.0f) ||
          !std::isfinite(stats.histogramRange))
        return fail("a \"histogram\" needs \"histogram_range\" > 0");
      int64_t total = 0;
      for (int64_t bin : stats.histogram) {
        if (bin < 0)
          return fail("\"histogram\" holds a negative count");
        total += bin;
      }
      if (total != stats.count)
        return fail("the \"histogram\" counts " + std::to_string(total) +
                    " values, \"count\" says " + std::to_string(stats.count));
    }
    if (!stats.samples.empty() &&
        (stats.rowLength <= 0 ||
         stats.samples.size() % static_cast<size_t>(stats.rowLength) != 0))
      return fail("\"samples\" must be whole rows of \"row_length\"");
    if (!stats.maxRow.empty() &&
        static_cast<int64_t>(stats.maxRow.size()) != stats.rowLength)
      return fail("\"max_row\" must hold \"row_length\" values");
    table[name] = std::move(stats);
  }
  return "";
}

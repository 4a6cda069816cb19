//===- CalibrationTest.cpp - observer statistics and amax methods ---------===//
//
// Part of fp4-mlir. What an observer accumulates (histogram growth,
// percentiles, the row sample), the three methods, and the JSON round trip.
//
//===----------------------------------------------------------------------===//

#include "fp4/Calibration/Calibration.h"
#include "gtest/gtest.h"

#include "llvm/Support/FileSystem.h"

#include <cmath>
#include <fstream>
#include <random>

using namespace fp4::calibration;
namespace nx = fp4::numerics;

namespace {

std::vector<float> gaussian(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(n);
  for (float &v : values)
    v = dist(rng);
  return values;
}

TEST(Observer, TracksMaximaAndGrowsItsHistogram) {
  ObserverStats stats;
  std::vector<float> first = {0.5f, -1.0f, 0.25f, 0.75f};
  ASSERT_TRUE(stats.add(first.data(), 2, 2));
  EXPECT_EQ(stats.amax, 1.0f);
  EXPECT_EQ(stats.histogramRange, 1.0f);
  std::vector<float> second = {3.0f, 0.0f};
  ASSERT_TRUE(stats.add(second.data(), 1, 2));
  EXPECT_EQ(stats.amax, 3.0f);
  EXPECT_EQ(stats.histogramRange, 4.0f); // doubled twice
  EXPECT_EQ(stats.channelAmax, (std::vector<float>{3.0f, 1.0f}));
  int64_t total = 0;
  for (int64_t c : stats.histogram)
    total += c;
  EXPECT_EQ(total, 6);
  EXPECT_EQ(stats.count, 6);
  EXPECT_EQ(stats.rows, 3);
  // Merged bins keep values in order: 3.0 is the only value above 1.0.
  EXPECT_EQ(stats.percentile(100.0), 3.0f);
  EXPECT_LE(stats.percentile(80.0), 1.0f);
}

TEST(Observer, RejectsNonFiniteValuesAndShapeChanges) {
  ObserverStats stats;
  std::vector<float> ok = {1.0f, 2.0f};
  ASSERT_TRUE(stats.add(ok.data(), 1, 2));
  std::vector<float> bad = {NAN, 1.0f};
  EXPECT_FALSE(stats.add(bad.data(), 1, 2));
  EXPECT_FALSE(stats.add(ok.data(), 2, 1));
  EXPECT_EQ(stats.count, 2); // nothing of the rejected calls
}

TEST(Observer, SamplesRowsDeterministicallyUpToTheLimit) {
  std::vector<float> x = gaussian(64 * 16384, 3);
  x[64 * 9000 + 5] = 50.0f; // the maximum, in a row the sample may miss
  ObserverStats a, b;
  for (int64_t chunk = 0; chunk < 8; ++chunk) {
    ASSERT_TRUE(a.add(x.data() + chunk * 64 * 2048, 2048, 64));
    ASSERT_TRUE(b.add(x.data() + chunk * 64 * 2048, 2048, 64));
  }
  EXPECT_EQ(a.maxRow, std::vector<float>(x.begin() + 64 * 9000,
                                         x.begin() + 64 * 9001));
  EXPECT_EQ(a.samples.size(), static_cast<size_t>(ObserverStats::kSampleLimit));
  EXPECT_EQ(a.samples, b.samples);
  // Rows from late chunks replaced some of the first ones.
  EXPECT_NE(std::vector<float>(a.samples.end() - 64, a.samples.end()),
            std::vector<float>(x.begin() + 64 * 4095, x.begin() + 64 * 4096));
}

TEST(Methods, PercentileClipsAndMSEChoosesAMultipleOfTheMax) {
  std::vector<float> x = gaussian(64 * 256, 5);
  x[100] = 40.0f; // one spike
  ObserverStats stats;
  ASSERT_TRUE(stats.add(x.data(), 256, 64));
  nx::QuantConfig fp8 = *nx::QuantConfig::forScheme(nx::Scheme::FP8);
  std::string why;
  EXPECT_EQ(chooseAmax(stats, {Method::Max, 0}, fp8, why), 40.0f);
  std::optional<float> p = chooseAmax(stats, {Method::Percentile, 99.9}, fp8, why);
  ASSERT_TRUE(p);
  EXPECT_LT(*p, 10.0f);
  EXPECT_GT(*p, 2.5f);
  std::optional<float> mse = chooseAmax(stats, {Method::MSE, 0}, fp8, why);
  ASSERT_TRUE(mse);
  bool onGrid = *mse == 40.0f;
  for (double m : mseMultiples())
    onGrid |= *mse == static_cast<float>(40.0 * m);
  EXPECT_TRUE(onGrid);
  // The chosen amax has no larger sample error than the max itself.
  auto error = [&](float amax) {
    nx::QuantConfig c = fp8;
    c.staticAmax = amax;
    nx::TensorView view{stats.samples.data(), nx::InputType::F32, 256, 64};
    nx::QuantizedTensor q;
    EXPECT_EQ(nx::quantize(view, c, q), "");
    std::vector<float> back(stats.samples.size());
    nx::dequantize(q, back.data());
    double sum = 0;
    for (size_t i = 0; i < back.size(); ++i)
      sum += (double(stats.samples[i]) - back[i]) * (double(stats.samples[i]) - back[i]);
    return sum;
  };
  EXPECT_LE(error(*mse), error(40.0f));
}

TEST(Methods, MSEFromTheHistogramAloneForPerTensorFP8) {
  std::vector<float> x = gaussian(64 * 256, 5);
  x[100] = 40.0f;
  ObserverStats stats;
  ASSERT_TRUE(stats.add(x.data(), 256, 64));
  nx::QuantConfig fp8 = *nx::QuantConfig::forScheme(nx::Scheme::FP8);
  std::string why;
  std::optional<float> fromSamples = chooseAmax(stats, {Method::MSE, 0}, fp8, why);
  // Statistics imported without samples (only amax and the histogram).
  ObserverStats imported = stats;
  imported.samples.clear();
  imported.maxRow.clear();
  std::optional<float> fromHistogram =
      chooseAmax(imported, {Method::MSE, 0}, fp8, why);
  ASSERT_TRUE(fromSamples && fromHistogram) << why;
  EXPECT_EQ(*fromHistogram, *fromSamples);
  // The bins' counts weigh the search: a huge mass of tiny values, whose
  // smallest fall below E4M3's normal range at the max's scale, outweighs
  // clipping the one large value.
  ObserverStats tiny;
  tiny.amax = 40.0f;
  tiny.histogramRange = 40.0f;
  tiny.histogram.assign(ObserverStats::kHistogramBins, 0);
  tiny.histogram[0] = int64_t(1) << 50;
  tiny.histogram.back() = 1;
  tiny.count = tiny.histogram[0] + 1;
  std::optional<float> clipped = chooseAmax(tiny, {Method::MSE, 0}, fp8, why);
  ASSERT_TRUE(clipped) << why;
  EXPECT_LT(*clipped, 40.0f);
  tiny.histogram[0] = 1000;
  EXPECT_EQ(chooseAmax(tiny, {Method::MSE, 0}, fp8, why), 40.0f);
  // Block scales depend on how values share rows: not from a histogram.
  nx::QuantConfig nvfp4 = *nx::QuantConfig::forScheme(nx::Scheme::NVFP4);
  EXPECT_FALSE(chooseAmax(imported, {Method::MSE, 0}, nvfp4, why));
  EXPECT_NE(why.find("fits only per-tensor FP8"), std::string::npos);
}

TEST(Methods, SayWhatIsMissing) {
  ObserverStats amaxOnly;
  amaxOnly.amax = 2.0f;
  nx::QuantConfig nvfp4 = *nx::QuantConfig::forScheme(nx::Scheme::NVFP4);
  std::string why;
  EXPECT_FALSE(chooseAmax(amaxOnly, {Method::Percentile, 99.0}, nvfp4, why));
  EXPECT_NE(why.find("no histogram"), std::string::npos);
  EXPECT_FALSE(chooseAmax(amaxOnly, {Method::MSE, 0}, nvfp4, why));
  EXPECT_NE(why.find("no sampled rows or histogram"), std::string::npos);
  ObserverStats zero;
  EXPECT_FALSE(chooseAmax(zero, {Method::Max, 0}, nvfp4, why));
  EXPECT_EQ(parseMethod("entropy"), std::nullopt);
}

TEST(Json, RoundTripsEveryField) {
  std::vector<float> x = gaussian(16 * 32, 9);
  StatsTable table;
  ASSERT_TRUE(table["layer:input"].add(x.data(), 32, 16));
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("stats", "json", path));
  ASSERT_EQ(writeStats(path.str().str(), table), "");
  StatsTable back;
  ASSERT_EQ(readStats(path.str().str(), back), "");
  llvm::sys::fs::remove(path);
  ASSERT_EQ(back.size(), 1u);
  const ObserverStats &a = table["layer:input"], &b = back["layer:input"];
  EXPECT_EQ(a.amax, b.amax);
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.rowLength, b.rowLength);
  EXPECT_EQ(a.channelAmax, b.channelAmax);
  EXPECT_EQ(a.histogramRange, b.histogramRange);
  EXPECT_EQ(a.histogram, b.histogram);
  EXPECT_EQ(a.samples, b.samples); // floats survive the decimal text exactly
  EXPECT_EQ(a.maxRow, b.maxRow);
}

TEST(Json, RecordsTheSmoothingAlpha) {
  StatsTable table;
  table["layer:input"].amax = 2.0f;
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("stats", "json", path));
  std::optional<double> alpha = 123.0; // overwritten by what the file says
  ASSERT_EQ(writeStats(path.str().str(), table), "");
  ASSERT_EQ(readStats(path.str().str(), table, &alpha), "");
  EXPECT_EQ(alpha, std::nullopt);
  ASSERT_EQ(writeStats(path.str().str(), table, 0.75), "");
  ASSERT_EQ(readStats(path.str().str(), table, &alpha), "");
  EXPECT_EQ(alpha, 0.75);
  std::ofstream(path.c_str()) << R"({"smooth_alpha": 2, "observers": {}})";
  std::string error = readStats(path.str().str(), table, &alpha);
  llvm::sys::fs::remove(path);
  EXPECT_NE(error.find("\"smooth_alpha\" expects a number in [0, 1]"),
            std::string::npos)
      << error;
}

TEST(Json, ErrorsNameTheFileAndTheObserver) {
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("stats", "json", path));
  std::ofstream(path.c_str()) << R"({"observers": {"a:input": {"amax": 1,
      "samples": [1, 2, 3], "row_length": 2}}})";
  StatsTable table;
  std::string error = readStats(path.str().str(), table);
  llvm::sys::fs::remove(path);
  EXPECT_NE(error.find("observer 'a:input'"), std::string::npos) << error;
  EXPECT_NE(error.find("whole rows"), std::string::npos) << error;
}

TEST(Json, AHistogramNeedsItsRangeAndConsistentCounts) {
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("stats", "json", path));
  std::string bins = "[5";
  for (int i = 1; i < ObserverStats::kHistogramBins; ++i)
    bins += ", 0";
  bins += "]";
  StatsTable table;
  std::ofstream(path.c_str()) << R"({"observers": {"a:input": {"amax": 1, "count": 5, "histogram": )" << bins << "}}}";
  std::string noRange = readStats(path.str().str(), table);
  std::ofstream(path.c_str()) << R"({"observers": {"a:input": {"amax": 1, "count": 4, "histogram_range": 1, "histogram": )" << bins << "}}}";
  std::string badCount = readStats(path.str().str(), table);
  llvm::sys::fs::remove(path);
  EXPECT_NE(noRange.find("\"histogram_range\" > 0"), std::string::npos) << noRange;
  EXPECT_NE(badCount.find("counts 5 values, \"count\" says 4"), std::string::npos)
      << badCount;
}

} // namespace

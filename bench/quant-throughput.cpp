//===- quant-throughput.cpp - quantization throughput of the numerics lib -===//
//
// Part of fp4-mlir. Quantizes a bf16 tensor held in memory with 1 and 2
// threads and prints GB/s of bf16 input, next to the machine's memory
// bandwidth measured in the same run (read-only sum and copy of the same
// bytes). bench/quant_throughput.py runs it beside the Python references.
//
// Usage: fp4-quant-throughput [--format nvfp4|mxfp4|mxfp8|fp8|nf4]
//                             [--gib N] [--repeats N] [--input W.npy]
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/Quantize.h"
#include "fp4/Support/Npy.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace fp4;
using namespace fp4::numerics;
using Clock = std::chrono::steady_clock;

static double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

/// Best-of-`repeats` time of `fn`.
template <typename Fn> static double best(int repeats, Fn fn) {
  double bestTime = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto start = Clock::now();
    fn();
    bestTime = std::min(bestTime, seconds(start, Clock::now()));
  }
  return bestTime;
}

int main(int argc, char **argv) {
  std::string format = "nvfp4", input;
  double gib = 1.0;
  int repeats = 3;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "error: %s expects a value\n", arg.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (arg == "--format")
      format = next();
    else if (arg == "--gib")
      gib = std::stod(next());
    else if (arg == "--repeats")
      repeats = std::stoi(next());
    else if (arg == "--input")
      input = next();
    else {
      std::fprintf(stderr, "error: unknown option %s\n", arg.c_str());
      return 1;
    }
  }
  std::optional<Scheme> scheme = parseScheme(format);
  if (!scheme) {
    std::fprintf(stderr, "error: unknown format %s\n", format.c_str());
    return 1;
  }

  const int64_t cols = 4096;
  std::vector<uint16_t> data;
  int64_t rows;
  if (!input.empty()) {
    NdArray array;
    std::string error;
    if (!readNpy(input, array, error) || array.dtype != DType::BF16 ||
        array.shape.size() != 2) {
      std::fprintf(stderr, "error: %s\n",
                   error.empty() ? "expects a 2-D bfloat16 .npy" : error.c_str());
      return 1;
    }
    rows = array.shape[0];
    data.resize(array.numElements());
    std::memcpy(data.data(), array.bytes.data(), array.bytes.size());
    if (array.shape[1] != cols) {
      std::fprintf(stderr, "error: expects %lld columns\n", (long long)cols);
      return 1;
    }
  } else {
    rows = static_cast<int64_t>(gib * (1ull << 30) / 2 / cols);
    data.resize(rows * cols);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = floatToBF16(dist(rng));
  }
  double bytes = 2.0 * data.size();

  // The floor: read the bytes once (sum) and copy them once, same size.
  volatile uint64_t sink = 0;
  double readTime = best(repeats, [&] {
    const uint64_t *p = reinterpret_cast<const uint64_t *>(data.data());
    uint64_t s = 0;
    for (size_t i = 0; i < data.size() / 4; ++i)
      s += p[i];
    sink = sink + s;
  });
  std::vector<uint16_t> copy(data.size());
  double copyTime = best(repeats, [&] {
    std::memcpy(copy.data(), data.data(), bytes);
  });
  copy.clear();
  copy.shrink_to_fit();
  std::printf("tensor: %lld x %lld bf16 (%.2f GiB)\n", (long long)rows,
              (long long)cols, bytes / (1 << 30));
  std::printf("floor: read %.2f GB/s, copy %.2f GB/s (1 thread)\n",
              bytes / readTime / 1e9, bytes / copyTime / 1e9);

  QuantConfig config = *QuantConfig::forScheme(*scheme);
  TensorView view{data.data(), InputType::BF16, rows, cols};
  for (unsigned threads : {1u, 2u}) {
    config.threads = threads;
    QuantizedTensor q;
    std::string error;
    double t = best(repeats, [&] { error = quantize(view, config, q); });
    if (!error.empty()) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      return 1;
    }
    std::printf("fp4-mlir %s: %u thread%s: %.3f s, %.2f GB/s (%.2f GB/s per "
                "thread)\n",
                format.c_str(), threads, threads > 1 ? "s" : "", t,
                bytes / t / 1e9, bytes / t / 1e9 / threads);
  }
  return 0;
}

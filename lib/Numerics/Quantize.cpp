//===- Quantize.cpp - block quantizers and dequantizers -------------------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
// Every rule below restates one reference library's order of float32
// operations (docs/formats.md section 5 names the functions); the golden
// tests in unittests/Numerics compare the bytes with the libraries' own
// output. Comments marked "ref:" point at the operation being mirrored.
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/Quantize.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>

/// The block kernels are inlined into quantizeRows so that they are compiled
/// for each of its targets.
#define FP4_INLINE inline __attribute__((always_inline))

using namespace fp4::numerics;

//===----------------------------------------------------------------------===//
// Names and configs
//===----------------------------------------------------------------------===//

std::string_view fp4::numerics::name(Scheme scheme) {
  switch (scheme) {
  case Scheme::NVFP4:
    return "nvfp4";
  case Scheme::MXFP4:
    return "mxfp4";
  case Scheme::MXFP8:
    return "mxfp8";
  case Scheme::FP8:
    return "fp8";
  case Scheme::NF4:
    return "nf4";
  }
  return "?";
}

std::string_view fp4::numerics::name(Rule rule) {
  switch (rule) {
  case Rule::Default:
    return "default";
  case Rule::ModelOpt:
    return "modelopt";
  case Rule::TorchAO:
    return "torchao";
  case Rule::CompressedTensors:
    return "compressed_tensors";
  case Rule::Floor:
    return "floor";
  case Rule::RCeil:
    return "rceil";
  }
  return "?";
}

std::string_view fp4::numerics::name(BlockScales choice) {
  switch (choice) {
  case BlockScales::Max:
    return "max";
  case BlockScales::FourOverSix:
    return "four_over_six";
  case BlockScales::MSE:
    return "mse";
  }
  return "?";
}

std::optional<BlockScales>
fp4::numerics::parseBlockScales(std::string_view text) {
  for (BlockScales choice :
       {BlockScales::Max, BlockScales::FourOverSix, BlockScales::MSE})
    if (name(choice) == text)
      return choice;
  return std::nullopt;
}

std::optional<Scheme> fp4::numerics::parseScheme(std::string_view text) {
  for (Scheme scheme : {Scheme::NVFP4, Scheme::MXFP4, Scheme::MXFP8,
                        Scheme::FP8, Scheme::NF4})
    if (name(scheme) == text)
      return scheme;
  return std::nullopt;
}

std::optional<Rule> fp4::numerics::parseRule(std::string_view text) {
  for (Rule rule : {Rule::Default, Rule::ModelOpt, Rule::TorchAO,
                    Rule::CompressedTensors, Rule::Floor, Rule::RCeil})
    if (name(rule) == text)
      return rule;
  return std::nullopt;
}

std::optional<QuantConfig> QuantConfig::forScheme(Scheme scheme) {
  QuantConfig config;
  config.scheme = scheme;
  switch (scheme) {
  case Scheme::NVFP4:
  case Scheme::MXFP4:
    config.element = ElementFormat::E2M1;
    break;
  case Scheme::MXFP8:
  case Scheme::FP8:
    config.element = ElementFormat::E4M3;
    break;
  case Scheme::NF4:
    config.element = ElementFormat::NF4;
    break;
  }
  return config;
}

int64_t QuantConfig::blockSize() const {
  switch (scheme) {
  case Scheme::NVFP4:
    return 16;
  case Scheme::MXFP4:
  case Scheme::MXFP8:
    return 32;
  case Scheme::NF4:
    return 64;
  case Scheme::FP8:
    return 0;
  }
  return 0;
}

ScaleFormat QuantConfig::scaleFormat() const {
  switch (scheme) {
  case Scheme::NVFP4:
    return ScaleFormat::UE4M3;
  case Scheme::MXFP4:
  case Scheme::MXFP8:
    return ScaleFormat::UE8M0;
  default:
    return ScaleFormat::F32;
  }
}

Rule QuantConfig::effectiveRule() const {
  if (rule != Rule::Default)
    return rule;
  switch (scheme) {
  case Scheme::NVFP4:
    return Rule::ModelOpt;
  case Scheme::MXFP4:
  case Scheme::MXFP8:
    return Rule::Floor;
  default:
    return Rule::Default;
  }
}

std::string QuantConfig::check(int64_t rows, int64_t cols) const {
  Rule r = effectiveRule();
  bool nvfp4Rule = r == Rule::ModelOpt || r == Rule::TorchAO ||
                   r == Rule::CompressedTensors;
  bool mxRule = r == Rule::Floor || r == Rule::RCeil;
  if (scheme == Scheme::NVFP4 && !nvfp4Rule)
    return "rule '" + std::string(name(r)) +
           "' does not apply to nvfp4 (use modelopt, torchao or "
           "compressed_tensors)";
  if ((scheme == Scheme::MXFP4 || scheme == Scheme::MXFP8) && !mxRule)
    return "rule '" + std::string(name(r)) +
           "' does not apply to " + std::string(name(scheme)) +
           " (use floor or rceil)";
  if ((scheme == Scheme::FP8 || scheme == Scheme::NF4) && r != Rule::Default)
    return std::string(name(scheme)) + " takes no rule (got '" +
           std::string(name(r)) + "')";
  bool fp8Element =
      element == ElementFormat::E4M3 || element == ElementFormat::E5M2;
  if ((scheme == Scheme::MXFP8 || scheme == Scheme::FP8) && !fp8Element)
    return std::string(name(scheme)) + " expects an e4m3 or e5m2 element";
  if (perChannel && scheme != Scheme::FP8)
    return "per-channel scaling applies to fp8 only";
  if (doubleQuant && scheme != Scheme::NF4)
    return "double quantization applies to nf4 only";
  if (swizzleScales && blockSize() == 0)
    return "a swizzled scale layout needs block scales (nvfp4, mxfp4, mxfp8)";
  if (swizzleScales && scheme == Scheme::NF4)
    return "a swizzled scale layout needs one-byte scales (nvfp4, mxfp4, "
           "mxfp8)";
  if (blockScales == BlockScales::FourOverSix &&
      (scheme != Scheme::NVFP4 || r != Rule::ModelOpt))
    return "block scale search (four_over_six) applies to nvfp4 with the "
           "modelopt rule only";
  if (blockScales == BlockScales::MSE &&
      !((scheme == Scheme::NVFP4 && r == Rule::ModelOpt) ||
        scheme == Scheme::FP8))
    return "scale search (mse) applies to nvfp4 with the modelopt rule (block "
           "scales) and to fp8 (tensor or channel scales) only";
  if (blockScales == BlockScales::MSE && scheme == Scheme::FP8 &&
      staticAmax != 0.0f)
    return "a static amax fixes the fp8 scale: it cannot be searched too";
  if (staticAmax != 0.0f) {
    if (!(scheme == Scheme::NVFP4 || (scheme == Scheme::FP8 && !perChannel)))
      return "a static amax sets a per-tensor scale: it applies to nvfp4 and "
             "per-tensor fp8 only";
    if (!std::isfinite(staticAmax) || staticAmax < 0.0f)
      return "a static amax must be finite and positive";
  }
  if (rows < 0 || cols <= 0)
    return "expects a non-empty tensor";
  int64_t block = blockSize();
  if (block && cols % block != 0)
    return "block size " + std::to_string(block) +
           " does not divide the blocked dimension (" + std::to_string(cols) +
           "); pad it to a multiple of " + std::to_string(block);
  if (bitWidth(element) == 4 && cols % 2 != 0)
    return "4-bit codes pack two per byte: the blocked dimension (" +
           std::to_string(cols) + ") must be even";
  return "";
}

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

namespace {

constexpr float kTwoPowMinus9 = 0.001953125f; // 2^-9
constexpr float kTwoPowMinus6 = 0.015625f;    // 2^-6
constexpr float kTwoPowMinus126 = 1.17549435e-38f;

/// Converts one row of the input to float32.
FP4_INLINE void loadRow(const TensorView &input, int64_t row, float *out) {
  int64_t cols = input.cols;
  switch (input.type) {
  case InputType::F32:
    std::memcpy(out, static_cast<const float *>(input.data) + row * cols,
                cols * sizeof(float));
    return;
  case InputType::BF16: {
    const uint16_t *in = static_cast<const uint16_t *>(input.data) + row * cols;
    for (int64_t i = 0; i < cols; ++i) {
      uint32_t bits = static_cast<uint32_t>(in[i]) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
    return;
  }
  case InputType::F16: {
    const uint16_t *in = static_cast<const uint16_t *>(input.data) + row * cols;
    for (int64_t i = 0; i < cols; ++i)
      out[i] = halfToFloat(in[i]);
    return;
  }
  }
}

/// max |x| over n values; returns NaN if any value is NaN or Inf. Works on
/// the bits: for non-negative floats the integer order is the float order,
/// and NaN/Inf are the only patterns >= 0x7F800000 (vectorizes as an
/// integer max).
FP4_INLINE float absMax(const float *x, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    bits &= 0x7FFFFFFFu;
    m = bits > m ? bits : m;
  }
  if (m >= 0x7F800000u)
    return std::numeric_limits<float>::quiet_NaN();
  float result;
  std::memcpy(&result, &m, 4);
  return result;
}

/// E2M1 magnitude code of |y| with round-to-nearest-even and saturation, by
/// comparison with the midpoints (vectorizes; equal to encodeE2M1).
FP4_INLINE uint8_t e2m1Magnitude(float y) {
  float a = std::fabs(y);
  return static_cast<uint8_t>((a > 0.25f) + (a >= 0.75f) + (a > 1.25f) +
                              (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) +
                              (a > 5.0f));
}

/// Sign conventions of the references for E2M1: ModelOpt NVFP4 and
/// compressed-tensors set the sign bit for y < 0 (so -0.0 -> 0x0); torchao
/// keeps the sign bit of y (so -0.0 -> 0x8).
FP4_INLINE uint8_t e2m1SignLess(float y) {
  return static_cast<uint8_t>((y < 0.0f) << 3) | e2m1Magnitude(y);
}
FP4_INLINE uint8_t e2m1SignBit(float y) {
  return static_cast<uint8_t>(std::signbit(y) << 3) | e2m1Magnitude(y);
}

FP4_INLINE float clampf(float x, float lo, float hi) {
  return std::min(std::max(x, lo), hi);
}

/// Runs `body(begin, end)` over [0, rows) in chunks on `threads` threads,
/// reporting finished rows to `progress` (from one thread at a time).
template <typename Body>
void parallelRows(int64_t rows, unsigned threads, const ProgressFn &progress,
                  Body body) {
  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(256, rows / (8 * threads) + 1));
  std::atomic<int64_t> next{0}, done{0};
  std::mutex progressMutex;
  auto worker = [&] {
    for (;;) {
      int64_t begin = next.fetch_add(chunk);
      if (begin >= rows)
        return;
      int64_t end = std::min(rows, begin + chunk);
      body(begin, end);
      int64_t finished = done.fetch_add(end - begin) + (end - begin);
      if (progress) {
        std::lock_guard<std::mutex> lock(progressMutex);
        progress(finished);
      }
    }
  };
  if (threads == 1 || rows <= chunk) {
    worker();
    return;
  }
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread &thread : pool)
    thread.join();
}

/// First non-finite input position seen by any thread.
struct NonFinite {
  std::atomic<int64_t> index{std::numeric_limits<int64_t>::max()};
  void note(int64_t i) {
    int64_t current = index.load();
    while (i < current && !index.compare_exchange_weak(current, i)) {
    }
  }
  bool any() const {
    return index.load() != std::numeric_limits<int64_t>::max();
  }
};

std::string nonFiniteError(const TensorView &input, int64_t index) {
  int64_t row = index / input.cols, col = index % input.cols;
  std::vector<float> values(input.cols);
  loadRow(input, row, values.data());
  return "input holds a non-finite value (" + std::to_string(values[col]) +
         ") at row " + std::to_string(row) + ", column " +
         std::to_string(col) +
         "; NaN/Inf weights cannot be quantized (fix or mask them first)";
}

/// Finds the first non-finite element of block [row, begin, begin+n).
void noteNonFinite(NonFinite &bad, const float *x, int64_t n, int64_t offset) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) {
      bad.note(offset + i);
      return;
    }
}

/// max |x| of rows [begin, end) straight from the input's bits (the integer
/// order of |x| is its float order; NaN/Inf are the patterns at or above the
/// exponent-all-ones boundary). Returns the bit pattern of the float maximum.
__attribute__((target_clones("avx2", "default"))) uint32_t
absMaxBits(const TensorView &input, int64_t begin, int64_t end) {
  int64_t n = (end - begin) * input.cols;
  uint32_t m = 0;
  if (input.type == InputType::F32) {
    const uint32_t *p =
        static_cast<const uint32_t *>(input.data) + begin * input.cols;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits = p[i] & 0x7FFFFFFFu;
      m = bits > m ? bits : m;
    }
    return m;
  }
  const uint16_t *p =
      static_cast<const uint16_t *>(input.data) + begin * input.cols;
  uint16_t m16 = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t bits = p[i] & 0x7FFFu;
    m16 = bits > m16 ? bits : m16;
  }
  if (input.type == InputType::BF16)
    return m16 >= 0x7F80u ? 0x7F800000u : static_cast<uint32_t>(m16) << 16;
  if (m16 >= 0x7C00u) // f16 Inf/NaN
    return 0x7F800000u;
  float value = halfToFloat(m16);
  std::memcpy(&m, &value, 4);
  return m;
}

/// Tensor-wide max |x| (NaN if a non-finite value is present, whose first
/// position `bad` then records).
float tensorAbsMax(const TensorView &input, unsigned threads, NonFinite &bad) {
  std::mutex mutex;
  uint32_t maxBits = 0;
  parallelRows(input.rows, threads, {}, [&](int64_t begin, int64_t end) {
    uint32_t local = absMaxBits(input, begin, end);
    if (local >= 0x7F800000u) {
      std::vector<float> row(input.cols);
      for (int64_t r = begin; r < end; ++r) {
        loadRow(input, r, row.data());
        noteNonFinite(bad, row.data(), input.cols, r * input.cols);
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    maxBits = std::max(maxBits, local);
  });
  float amax;
  std::memcpy(&amax, &maxBits, 4);
  return amax;
}

void storeF32(uint8_t *bytes, int64_t index, float value) {
  std::memcpy(bytes + index * 4, &value, 4);
}

float loadF32(const std::vector<uint8_t> &bytes, int64_t index) {
  float value;
  std::memcpy(&value, &bytes[index * 4], 4);
  return value;
}

//===----------------------------------------------------------------------===//
// Per-block scale rules. Each returns the scale byte (or, for F32 scales,
// the scale) and the per-element operand of its element step: a divisor
// (ModelOpt, compressed-tensors, MX floor, FP8) or a multiplier (torchao, MX
// rceil, NF4), exactly as the reference applies it.
//===----------------------------------------------------------------------===//

struct BlockScale {
  uint8_t byte;
  float operand;
};

/// E4M3 code of a value already clamped into [2^-9, 448] (the UE4M3 block
/// scales): round to nearest even, inlined for the hot loop.
FP4_INLINE uint8_t e4m3InRange(float s) {
  // Both paths are computed and one is selected, so loops over blocks
  // vectorize: subnormal targets count steps of 2^-9, normal ones round the
  // binary32 mantissa to 3 bits (ties to even).
  uint32_t subnormal = static_cast<uint32_t>(std::nearbyint(s * 512.0f));
  uint32_t bits;
  std::memcpy(&bits, &s, 4);
  uint32_t rounded = bits + 0x7FFFFu + ((bits >> 20) & 1u);
  uint32_t normal = (rounded >> 20) - (120u << 3);
  return static_cast<uint8_t>(s < kTwoPowMinus6 ? subnormal : normal);
}

/// The value of an E4M3 code in [0, 0x7E], from its bits (branch-free).
FP4_INLINE float e4m3Value(uint8_t code) {
  uint32_t bits = ((static_cast<uint32_t>(code >> 3) + 120u) << 23) |
                  (static_cast<uint32_t>(code & 7u) << 20);
  float normal;
  std::memcpy(&normal, &bits, 4);
  float subnormal = static_cast<float>(code & 7u) * kTwoPowMinus9;
  return (code >> 3) ? normal : subnormal;
}

/// ModelOpt NVFP4QTensor.quantize.
FP4_INLINE BlockScale nvfp4ModelOpt(float bamax, float s2, float sixS2) {
  float s = bamax / sixS2;                         // ref: bamax / (6 * s2)
  if (s == 0.0f)
    s = 1.0f;                                      // ref: s[s == 0] = 1.0
  uint8_t byte = e4m3InRange(clampf(s, kTwoPowMinus9, 448.0f));
  return {byte, decodeE4M3(byte) * s2};            // ref: x / (s8 * s2)
}

/// Squared error of quantizing the block `x` (ModelOpt's order: code =
/// E2M1(x / operand), value = code * operand), or `bound` as soon as the sum
/// reaches it.
float blockSquaredError(const float *x, int64_t n, float operand, float bound) {
  static constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f,
                                     2.0f, 3.0f, 4.0f, 6.0f};
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    float back = kE2M1[e2m1Magnitude(x[i] / operand)] * operand;
    float d = std::fabs(x[i]) - back;
    sum += d * d;
    if (sum >= bound)
      return bound;
  }
  return sum;
}

/// Refines a ModelOpt block scale byte (`byte`, the maximum mapped to 6) by
/// squared error: against mapping the maximum to 4 (FourOverSix), or over
/// every finite E4M3 scale (MSE). A candidate wins only if strictly better,
/// so ties keep the rule's byte. Returns the chosen byte.
uint8_t searchBlockScale(const float *x, int64_t n, float bamax, float s2,
                         uint8_t byte, BlockScales choice) {
  if (bamax == 0.0f)
    return byte;
  float best = blockSquaredError(x, n, e4m3Value(byte) * s2,
                                 std::numeric_limits<float>::infinity());
  auto consider = [&](uint8_t candidate) {
    float operand = e4m3Value(candidate) * s2;
    // The maximum element alone clips by at least bamax - 6 * operand.
    float clip = bamax - 6.0f * operand;
    if (clip > 0.0f && clip * clip >= best)
      return;
    float error = blockSquaredError(x, n, operand, best);
    if (error < best) {
      best = error;
      byte = candidate;
    }
  };
  if (choice == BlockScales::FourOverSix) {
    consider(e4m3InRange(clampf(bamax / (4.0f * s2), kTwoPowMinus9, 448.0f)));
  } else {
    for (unsigned candidate = 1; candidate <= 0x7E; ++candidate)
      consider(static_cast<uint8_t>(candidate));
  }
  return byte;
}

/// torchao nvfp4_quantize with a per-tensor scale.
FP4_INLINE BlockScale nvfp4TorchAO(float bamax, float pts, float invPts) {
  float bs = bamax / 6.0f;                         // ref: max_abs / 6.0
  uint8_t byte = e4m3InRange(clampf(bs / pts, kTwoPowMinus6, 448.0f));
  return {byte, invPts / decodeE4M3(byte)};        // ref: x * ((1/pts) / s8)
}

/// compressed-tensors calculate_qparams + quantize (CPU path).
FP4_INLINE BlockScale nvfp4CompressedTensors(float bamax, float g) {
  float s = g * (bamax / 6.0f);                    // ref: g * (bamax / 6)
  uint8_t byte = encodeE4M3(clampf(s, -448.0f, 448.0f));
  float s8 = decodeE4M3(byte);
  if (s8 == 0.0f) {                                // ref: where(s == 0, 0.125)
    s8 = 0.125f;
    byte = 0x20;
  }
  return {byte, s8 / g};                           // ref: x / (s8 / g)
}

FP4_INLINE int mxEmax(ElementFormat element) {
  return element == ElementFormat::E2M1   ? 2
         : element == ElementFormat::E4M3 ? 8
                                          : 15; // E5M2
}

/// torchao to_mx, ScaleCalculationMode.FLOOR.
FP4_INLINE BlockScale mxFloor(float amax, ElementFormat element) {
  uint32_t bits;
  std::memcpy(&bits, &amax, 4);
  int p2 = static_cast<int>((bits >> 23) & 0xFF) - 127; // ref: exponent field
  int ue = std::clamp(p2 - mxEmax(element), -127, 128);
  uint8_t e8 = static_cast<uint8_t>(ue + 127);
  uint32_t scaleBits = static_cast<uint32_t>(e8) << 23;
  float scale;
  std::memcpy(&scale, &scaleBits, 4);
  return {e8, std::max(scale, kTwoPowMinus126)};   // ref: x / max(scale, 2^-126)
}

/// torchao _to_mx_rceil (also ModelOpt's MX scale).
FP4_INLINE BlockScale mxRCeil(float amax, ElementFormat element) {
  float desc = amax / maxFinite(element);          // ref: amax / max_pos
  int e = -127;
  if (desc > 0.0f) // ref: ceil(torch.log2(desc)) in float32
    e = std::clamp(static_cast<int>(std::ceil(static_cast<float>(
                       std::log2(static_cast<double>(desc))))),
                   -127, 127);
  uint8_t e8 = static_cast<uint8_t>(e + 127);
  float rcp = 1.0f; // ref: e8 == 0 multiplies by 1.0 (not 2^127)
  if (e8 != 0) {    // 2^(127 - e8), built from its bits
    uint32_t rcpBits = static_cast<uint32_t>(254 - e8) << 23;
    std::memcpy(&rcp, &rcpBits, 4);
  }
  return {e8, rcp};                                // ref: x * rcp
}

/// FP8 scale as ModelOpt exports it: zero amax -> scale 1, clamp to the
/// normal float32 range, then amax / maxbound.
FP4_INLINE float fp8Scale(float amax, float maxBound) {
  if (amax == 0.0f)
    amax = maxBound;
  amax = clampf(amax, std::numeric_limits<float>::min(),
                std::numeric_limits<float>::max());
  return amax / maxBound;
}

FP4_INLINE uint8_t fp8Element(ElementFormat element, float y) {
  return element == ElementFormat::E4M3 ? encodeE4M3(y, Overflow::Saturate)
                                        : encodeE5M2(y, Overflow::Saturate);
}

/// FP8 scale search (BlockScales::MSE on FP8): the candidate scales are
/// `scale * (1 + i / 64)`, i = 0 .. 63, where `scale` maps the amax to the
/// format's largest value. E4M3 and E5M2 round the same way at every binade,
/// so one factor-of-two period of candidates covers every alignment of the
/// grid; candidates below 1 would clip, which never paid (docs/formats.md
/// section 8). Index 0 is the max scale.
constexpr int kFP8ScaleCandidates = 64;

FP4_INLINE float fp8Candidate(float scale, int i) {
  return scale * (1.0f + static_cast<float>(i) / kFP8ScaleCandidates);
}

/// Adds to errors[i] the squared error of x[0, n) quantized to `element`
/// with candidate scale i and dequantized as dequantize() does.
void addFP8ScaleErrors(const float *x, int64_t n, float scale,
                       ElementFormat element, double *errors) {
  static const auto tables = [] {
    std::array<std::array<float, 256>, 2> t;
    for (int c = 0; c < 256; ++c) {
      t[0][c] = decodeE4M3(static_cast<uint8_t>(c));
      t[1][c] = decodeE5M2(static_cast<uint8_t>(c));
    }
    return t;
  }();
  const std::array<float, 256> &value =
      tables[element == ElementFormat::E4M3 ? 0 : 1];
  for (int i = 0; i < kFP8ScaleCandidates; ++i) {
    const float s = fp8Candidate(scale, i);
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      double d =
          double(x[j]) - double(value[fp8Element(element, x[j] / s)] * s);
      sum += d * d;
    }
    errors[i] += sum;
  }
}

/// The candidate with the least error; ties keep the smaller index (the max
/// scale first).
int bestFP8Candidate(const double *errors) {
  int best = 0;
  for (int i = 1; i < kFP8ScaleCandidates; ++i)
    if (errors[i] < errors[best])
      best = i;
  return best;
}

/// NF4 index of v in [-1, 1] (nearest codebook entry, ties to the lower).
FP4_INLINE uint8_t nf4Index(float v) {
  const float *code = nf4Codebook();
  uint8_t index = 0;
  for (int i = 1; i < 16; ++i)
    index += v > 0.5f * (code[i - 1] + code[i]);
  return index;
}

/// Everything the per-row kernel needs, computed once per tensor.
struct RowJob {
  const TensorView &input;
  const QuantConfig &config;
  Rule rule;
  int64_t block;
  bool fourBit, needsAmax, zeroTensor;
  float s2, sixS2, invPts, g, fp8MaxBound, fp8TensorScale;
  int64_t scaleCols;
  uint8_t *data;
  uint8_t *scales;
  NonFinite *bad;
};

/// Quantizes rows [begin, end) in two steps per row: the scale of every
/// block (scalar), then one long loop over the row's elements with each
/// element's operand. Compiled for AVX2 and for the baseline and dispatched
/// at load time, so the element loops vectorize.
__attribute__((target_clones("avx2", "default"))) void
quantizeRows(const RowJob &job, int64_t begin, int64_t end) {
  const TensorView &input = job.input;
  const QuantConfig &config = job.config;
  const ElementFormat element = config.element;
  const int64_t block = job.block, cols = input.cols;
  const float maxPos = maxFinite(element);
  std::vector<float> row(cols), operand(cols), blockMax(cols), blockOperand(cols);
  std::vector<uint8_t> codes(cols);
  for (int64_t r = begin; r < end; ++r) {
    loadRow(input, r, row.data());
    const float *x = row.data();
    float *op = operand.data();
    uint8_t *c = codes.data();
    bool skipRow = false;

    // Step 1: scales. NVFP4 (the hot path) runs each step as a loop over
    // the row's blocks so that the scale arithmetic vectorizes too.
    if (config.scheme == Scheme::NVFP4 && !job.zeroTensor) {
      const int64_t numBlocks = cols / block;
      float *bamax = blockMax.data();
      uint8_t *bytes = job.scales + r * job.scaleCols;
      uint32_t largest = 0;
      for (int64_t b = 0; b < numBlocks; ++b) {
        bamax[b] = absMax(x + b * block, block);
        uint32_t bits;
        std::memcpy(&bits, &bamax[b], 4);
        largest = bits > largest ? bits : largest;
      }
      if (largest >= 0x7F800000u) { // absMax's NaN: a non-finite element
        noteNonFinite(*job.bad, x, cols, r * cols);
        continue;
      }
      float *opb = blockOperand.data();
      if (job.rule == Rule::ModelOpt) {
        const float s2 = job.s2, sixS2 = job.sixS2;
        for (int64_t b = 0; b < numBlocks; ++b) {
          float scale = bamax[b] / sixS2;            // ref: bamax / (6 * s2)
          scale = scale == 0.0f ? 1.0f : scale;      // ref: s[s == 0] = 1.0
          bytes[b] = e4m3InRange(clampf(scale, kTwoPowMinus9, 448.0f));
          if (config.blockScales != BlockScales::Max)
            bytes[b] = searchBlockScale(x + b * block, block, bamax[b], s2,
                                        bytes[b], config.blockScales);
          opb[b] = e4m3Value(bytes[b]) * s2;         // ref: x / (s8 * s2)
        }
      } else if (job.rule == Rule::TorchAO) {
        const float pts = job.s2, invPts = job.invPts;
        for (int64_t b = 0; b < numBlocks; ++b) {
          float scale = (bamax[b] / 6.0f) / pts;     // ref: (max_abs / 6) / pts
          bytes[b] = e4m3InRange(clampf(scale, kTwoPowMinus6, 448.0f));
          opb[b] = invPts / e4m3Value(bytes[b]);     // ref: x * ((1/pts) / s8)
        }
      } else {
        const float g = job.g;
        for (int64_t b = 0; b < numBlocks; ++b) {
          float scale = g * (bamax[b] / 6.0f);       // ref: g * (bamax / 6)
          uint8_t byte = e4m3InRange(clampf(scale, 0.0f, 448.0f));
          byte = byte == 0 ? 0x20 : byte;            // ref: where(s == 0, 0.125)
          bytes[b] = byte;
          opb[b] = e4m3Value(byte) / g;              // ref: x / (s8 / g)
        }
      }
      for (int64_t b = 0; b < numBlocks; ++b)
        std::fill(op + b * block, op + (b + 1) * block, opb[b]);
    } else if (block) {
      for (int64_t b = 0; b < cols / block; ++b) {
        const float *xb = x + b * block;
        float bamax = absMax(xb, block);
        if (std::isnan(bamax)) {
          noteNonFinite(*job.bad, xb, block, r * cols + b * block);
          skipRow = true;
          break;
        }
        int64_t scaleIndex = r * job.scaleCols + b;
        BlockScale scale{0, 1.0f};
        switch (config.scheme) {
        case Scheme::NVFP4:
          if (job.zeroTensor) {
            // Intended difference (docs/formats.md): the references give NaN
            // scales here; an all-zero tensor quantizes to zeros.
            scale = {static_cast<uint8_t>(job.rule == Rule::ModelOpt  ? 0x38
                                          : job.rule == Rule::TorchAO ? 0x08
                                                                      : 0x20),
                     job.rule == Rule::TorchAO ? 0.0f : 1.0f};
          } else {
            scale = job.rule == Rule::ModelOpt
                        ? nvfp4ModelOpt(bamax, job.s2, job.sixS2)
                    : job.rule == Rule::TorchAO
                        ? nvfp4TorchAO(bamax, job.s2, job.invPts)
                        : nvfp4CompressedTensors(bamax, job.g);
          }
          break;
        case Scheme::MXFP4:
        case Scheme::MXFP8:
          scale = job.rule == Rule::Floor ? mxFloor(bamax, element)
                                          : mxRCeil(bamax, element);
          break;
        case Scheme::NF4:
          // ref: bitsandbytes default backend: x * (1 / clamp(absmax, 1e-38))
          scale.operand = 1.0f / std::max(bamax, 1e-38f);
          storeF32(job.scales, scaleIndex, bamax);
          break;
        case Scheme::FP8:
          break;
        }
        if (config.scheme != Scheme::NF4)
          job.scales[scaleIndex] = scale.byte;
        std::fill(op + b * block, op + (b + 1) * block, scale.operand);
      }
    } else {
      float scale = job.fp8TensorScale;
      if (config.perChannel) {
        float rowMax = absMax(x, cols);
        if (std::isnan(rowMax)) {
          noteNonFinite(*job.bad, x, cols, r * cols);
          continue;
        }
        scale = fp8Scale(rowMax, job.fp8MaxBound);
        if (config.blockScales == BlockScales::MSE) {
          double errors[kFP8ScaleCandidates] = {};
          addFP8ScaleErrors(x, cols, scale, element, errors);
          scale = fp8Candidate(scale, bestFP8Candidate(errors));
        }
        storeF32(job.scales, r, scale);
      }
      std::fill(op, op + cols, scale);
    }
    if (skipRow)
      continue;

    // Step 2: elements, in the reference's operation order.
    switch (config.scheme) {
    case Scheme::NVFP4:
      if (job.rule == Rule::ModelOpt)
        for (int64_t i = 0; i < cols; ++i)
          c[i] = e2m1SignLess(x[i] / op[i]);
      else if (job.rule == Rule::TorchAO)
        for (int64_t i = 0; i < cols; ++i)
          c[i] = e2m1SignBit(clampf(x[i] * op[i], -6.0f, 6.0f));
      else
        for (int64_t i = 0; i < cols; ++i)
          c[i] = e2m1SignLess(clampf(x[i] / op[i], -6.0f, 6.0f));
      break;
    case Scheme::MXFP4:
      if (job.rule == Rule::Floor)
        for (int64_t i = 0; i < cols; ++i)
          c[i] = e2m1SignBit(x[i] / op[i]);
      else
        for (int64_t i = 0; i < cols; ++i)
          c[i] = e2m1SignBit(x[i] * op[i]);
      break;
    case Scheme::MXFP8:
      if (job.rule == Rule::Floor)
        for (int64_t i = 0; i < cols; ++i)
          c[i] = fp8Element(element, clampf(x[i] / op[i], -maxPos, maxPos));
      else
        for (int64_t i = 0; i < cols; ++i)
          c[i] = fp8Element(element, clampf(x[i] * op[i], -maxPos, maxPos));
      break;
    case Scheme::FP8:
      for (int64_t i = 0; i < cols; ++i)
        c[i] = fp8Element(element, x[i] / op[i]); // ref: W / scale
      break;
    case Scheme::NF4:
      for (int64_t i = 0; i < cols; ++i)
        c[i] = nf4Index(clampf(x[i] * op[i], -1.0f, 1.0f));
      break;
    }
    // The all-zero NVFP4 tensor under torchao keeps only sign bits.
    if (config.scheme == Scheme::NVFP4 && job.zeroTensor)
      for (int64_t i = 0; i < cols; ++i)
        c[i] = job.rule == Rule::TorchAO
                   ? static_cast<uint8_t>(std::signbit(x[i]) << 3)
                   : 0;

    uint8_t *dst = job.data + (job.fourBit ? r * cols / 2 : r * cols);
    if (job.fourBit)
      pack4(c, cols, dst, config.nibbleOrder);
    else
      std::memcpy(dst, c, cols);
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// NF4 double quantization (bitsandbytes compress_statistics on the CPU)
//===----------------------------------------------------------------------===//

namespace {

const uint32_t kDynamicMapBits[256] = {
#include "DynamicMap.inc"
};

float dynamicMap(int index) {
  float value;
  std::memcpy(&value, &kDynamicMapBits[index], 4);
  return value;
}

/// torch.sum of a contiguous float32 vector as ATen computes it on one
/// thread with 8-lane (AVX2) vectors: four interleaved accumulators, each a
/// four-level cascade (multi_row_sum), then the lanes in order. Reproduces
/// torch.mean bit for bit for up to 32768 elements (more are split over
/// torch's threads, which this does not model).
float torchCascadeSum(const float *x, int64_t n) {
  constexpr int kLanes = 8, kRows = 4, kLevels = 4;
  auto ceilLog2 = [](int64_t v) {
    int bits = 0;
    while ((int64_t(1) << bits) < v)
      ++bits;
    return v <= 1 ? 0 : bits;
  };
  // Sums `size` row-groups of `kRows` items of `width` lanes; item (i, k)
  // starts at x[(i * kRows + k) * width].
  auto multiRowSum = [&](int64_t size, int width, float *out /*[kRows*width]*/) {
    int levelPower = std::max<int>(4, ceilLog2(size) / kLevels);
    int64_t levelStep = int64_t(1) << levelPower, levelMask = levelStep - 1;
    std::vector<float> acc(kLevels * kRows * width, 0.0f);
    auto at = [&](int level, int k, int lane) -> float & {
      return acc[(level * kRows + k) * width + lane];
    };
    int64_t i = 0;
    while (i + levelStep <= size) {
      for (int64_t j = 0; j < levelStep; ++j, ++i)
        for (int k = 0; k < kRows; ++k)
          for (int lane = 0; lane < width; ++lane)
            at(0, k, lane) += x[(i * kRows + k) * width + lane];
      for (int j = 1; j < kLevels; ++j) {
        for (int k = 0; k < kRows; ++k)
          for (int lane = 0; lane < width; ++lane) {
            at(j, k, lane) += at(j - 1, k, lane);
            at(j - 1, k, lane) = 0.0f;
          }
        if ((i & (levelMask << (j * levelPower))) != 0)
          break;
      }
    }
    for (; i < size; ++i)
      for (int k = 0; k < kRows; ++k)
        for (int lane = 0; lane < width; ++lane)
          at(0, k, lane) += x[(i * kRows + k) * width + lane];
    for (int j = 1; j < kLevels; ++j)
      for (int k = 0; k < kRows; ++k)
        for (int lane = 0; lane < width; ++lane)
          at(0, k, lane) += at(j, k, lane);
    for (int k = 0; k < kRows; ++k)
      for (int lane = 0; lane < width; ++lane)
        out[k * width + lane] = at(0, k, lane);
  };
  float rows[kRows * kLanes];
  if (n < kLanes) { // scalar_inner_sum
    int64_t sizeIlp = n / 4;
    multiRowSum(sizeIlp, 1, rows);
    for (int64_t i = sizeIlp * 4; i < n; ++i)
      rows[0] += x[i];
    for (int k = 1; k < kRows; ++k)
      rows[0] += rows[k];
    return 0.0f + rows[0];
  }
  int64_t vectors = n / kLanes, sizeIlp = vectors / 4;
  multiRowSum(sizeIlp, kLanes, rows);
  for (int64_t i = sizeIlp * 4; i < vectors; ++i)
    for (int lane = 0; lane < kLanes; ++lane)
      rows[lane] += x[i * kLanes + lane];
  for (int k = 1; k < kRows; ++k)
    for (int lane = 0; lane < kLanes; ++lane)
      rows[lane] += rows[k * kLanes + lane];
  float total = 0.0f;
  for (int64_t i = vectors * kLanes; i < n; ++i)
    total += x[i];
  for (int lane = 0; lane < kLanes; ++lane)
    total += rows[lane];
  return 0.0f + total;
}

/// bitsandbytes' native CPU quantize_blockwise (blocks of 256): the code of
/// each value comes from a 65536-bin lookup table over [-1, 1], nearest code
/// to each bin's centre, not from an exact nearest-code search.
void quantizeBlockwise8(const std::vector<float> &values, uint8_t *codes,
                        std::vector<float> &blockMax) {
  static const std::vector<uint8_t> lut = [] {
    float mid[255];
    for (int k = 0; k < 255; ++k)
      mid[k] = 0.5f * (dynamicMap(k) + dynamicMap(k + 1));
    std::vector<uint8_t> table(65536);
    int k = 0;
    for (int i = 0; i < 65536; ++i) {
      float value = -1.0f + (2.0f * static_cast<float>(i)) / 65535.0f;
      while (k < 255 && mid[k] < value)
        ++k;
      table[i] = static_cast<uint8_t>(k);
    }
    return table;
  }();
  const int64_t n = values.size(), block = 256;
  blockMax.assign((n + block - 1) / block, 0.0f);
  for (int64_t b = 0; b * block < n; ++b) {
    int64_t begin = b * block, end = std::min(n, begin + block);
    float m = 0.0f;
    for (int64_t i = begin; i < end; ++i)
      m = std::max(m, std::fabs(values[i])); // NaN is skipped, as in the ref
    blockMax[b] = m;
    if (m == 0.0f) {
      std::fill(codes + begin, codes + end, 0);
      continue;
    }
    float inv = 1.0f / m;
    for (int64_t i = begin; i < end; ++i) {
      float v = clampf(values[i] * inv, -1.0f, 1.0f);
      float t = ((v + 1.0f) * 0.5f) * 65535.0f + 0.5f;
      codes[i] = lut[static_cast<uint16_t>(t)];
    }
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// quantize
//===----------------------------------------------------------------------===//

void fp4::numerics::encodeE2M1Block(const float *values, int64_t n,
                                    float scaleReciprocal, uint8_t *codes) {
  for (int64_t i = 0; i < n; ++i)
    codes[i] = e2m1SignBit(values[i] * scaleReciprocal);
}

std::string fp4::numerics::quantize(const TensorView &input,
                                    const QuantConfig &config,
                                    QuantizedTensor &out,
                                    const ProgressFn &progress) {
  std::string problem = config.check(input.rows, input.cols);
  if (!problem.empty())
    return problem;
  const int64_t rows = input.rows, cols = input.cols;
  const int64_t block = config.blockSize();
  const Rule rule = config.effectiveRule();
  const bool fourBit = bitWidth(config.element) == 4;
  const bool byteScales = config.scaleFormat() == ScaleFormat::UE4M3 ||
                          config.scaleFormat() == ScaleFormat::UE8M0;

  out = QuantizedTensor();
  out.config = config;
  out.rows = rows;
  out.cols = cols;
  out.scaleRows = (block || config.perChannel) ? rows : 1;
  out.scaleCols = block ? cols / block : 1;
  out.data.assign(fourBit ? rows * cols / 2 : rows * cols, 0);
  std::vector<uint8_t> scales(
      static_cast<size_t>(out.scaleRows * out.scaleCols) * (byteScales ? 1 : 4));

  NonFinite bad;
  // Per-tensor quantities first (one extra read of the input).
  float amax = 0.0f;
  bool needsAmax = config.scheme == Scheme::NVFP4 ||
                   (config.scheme == Scheme::FP8 && !config.perChannel);
  if (needsAmax) {
    amax = tensorAbsMax(input, config.threads, bad);
    if (bad.any())
      return nonFiniteError(input, bad.index.load());
    if (config.staticAmax > 0.0f) // calibrated: the data's own amax only
      amax = config.staticAmax;   // served the non-finite check above
  }
  // NVFP4 global scales (ref: amax / 2688; compressed-tensors 2688 / amax).
  float s2 = amax / 2688.0f, sixS2 = 6.0f * s2, invPts = 1.0f / s2;
  // ref: 2688.0 / tensor is torch's __rtruediv__, i.e. reciprocal(t) * 2688.
  float g = (1.0f / std::max(amax, std::numeric_limits<float>::min())) * 2688.0f;
  if (!std::isfinite(g))
    g = 1.0f;
  bool zeroTensor = needsAmax && amax == 0.0f;
  float fp8MaxBound = maxFinite(config.element);
  float fp8TensorScale = fp8Scale(amax, fp8MaxBound);
  if (config.scheme == Scheme::FP8 && !config.perChannel &&
      config.blockScales == BlockScales::MSE) {
    // Per-row errors summed in row order afterwards: the choice does not
    // depend on the number of threads.
    std::vector<double> errors(rows * kFP8ScaleCandidates, 0.0);
    parallelRows(
        rows, config.threads, nullptr, [&](int64_t begin, int64_t end) {
          std::vector<float> row(cols);
          for (int64_t r = begin; r < end; ++r) {
            loadRow(input, r, row.data());
            addFP8ScaleErrors(row.data(), cols, fp8TensorScale, config.element,
                              errors.data() + r * kFP8ScaleCandidates);
          }
        });
    double total[kFP8ScaleCandidates] = {};
    for (int64_t r = 0; r < rows; ++r)
      for (int i = 0; i < kFP8ScaleCandidates; ++i)
        total[i] += errors[r * kFP8ScaleCandidates + i];
    fp8TensorScale = fp8Candidate(fp8TensorScale, bestFP8Candidate(total));
  }

  RowJob job{input, config, rule, block, fourBit, needsAmax, zeroTensor,
             s2, sixS2, invPts, g, fp8MaxBound, fp8TensorScale,
             out.scaleCols, out.data.data(), scales.data(), &bad};
  parallelRows(rows, config.threads, progress,
               [&](int64_t begin, int64_t end) { quantizeRows(job, begin, end); });
  if (bad.any())
    return nonFiniteError(input, bad.index.load());

  if (config.scheme == Scheme::FP8 && !config.perChannel)
    storeF32(scales.data(), 0, fp8TensorScale);
  if (config.scheme == Scheme::NVFP4) {
    if (rule == Rule::CompressedTensors) {
      out.globalScaleStored = g;
      out.globalScale = 1.0f / g;
    } else {
      out.globalScaleStored = s2;
      out.globalScale = s2;
    }
  }
  if (config.doubleQuant) {
    // ref: offset = absmax.mean(); quantize_blockwise(absmax - offset, 256)
    std::vector<float> absmax(out.scaleRows * out.scaleCols);
    std::memcpy(absmax.data(), scales.data(), absmax.size() * 4);
    out.absmaxOffset =
        torchCascadeSum(absmax.data(), absmax.size()) /
        static_cast<float>(absmax.size());
    for (float &v : absmax)
      v = v - out.absmaxOffset;
    out.absmaxCodes.resize(absmax.size());
    quantizeBlockwise8(absmax, out.absmaxCodes.data(), out.absmaxScales);
    scales.clear();
  }
  if (config.swizzleScales) {
    out.scales.resize(swizzledScaleBytes(out.scaleRows, out.scaleCols));
    swizzleScales(scales.data(), out.scaleRows, out.scaleCols,
                  out.scales.data());
  } else {
    out.scales = std::move(scales);
  }
  return "";
}

//===----------------------------------------------------------------------===//
// dequantize
//===----------------------------------------------------------------------===//

float QuantizedTensor::scaleAt(int64_t row, int64_t col) const {
  if (config.doubleQuant) { // ref: code2[q] * absmax2[block / 256] + offset
    int64_t index = row * scaleCols + col;
    return dynamicMap(absmaxCodes[index]) * absmaxScales[index / 256] +
           absmaxOffset;
  }
  switch (config.scaleFormat()) {
  case ScaleFormat::F32:
    return loadF32(scales, row * scaleCols + col);
  case ScaleFormat::BF16:
    return 0.0f; // not produced by any scheme
  case ScaleFormat::UE4M3:
  case ScaleFormat::UE8M0: {
    size_t index = config.swizzleScales
                       ? swizzledScaleOffset(row, col, scaleCols)
                       : static_cast<size_t>(row * scaleCols + col);
    return config.scaleFormat() == ScaleFormat::UE4M3
               ? decodeUE4M3(scales[index])
               : decodeUE8M0(scales[index]);
  }
  }
  return 0.0f;
}

void fp4::numerics::dequantize(const QuantizedTensor &q, float *out) {
  const int64_t block = q.config.blockSize();
  const bool fourBit = bitWidth(q.config.element) == 4;
  const Rule rule = q.config.effectiveRule();
  parallelRows(q.rows, q.config.threads, {}, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> codes(q.cols);
    for (int64_t r = begin; r < end; ++r) {
      if (fourBit)
        unpack4(q.data.data() + r * q.cols / 2, q.cols, codes.data(),
                q.config.nibbleOrder);
      else
        std::memcpy(codes.data(), q.data.data() + r * q.cols, q.cols);
      float *dst = out + r * q.cols;
      for (int64_t c = 0; c < q.cols; ++c) {
        int64_t scaleRow = q.scaleRows == 1 ? 0 : r;
        int64_t scaleCol = block ? c / block : 0;
        float scale = q.scaleAt(scaleRow, scaleCol);
        // Two-level: ModelOpt / torchao multiply s8 * s2; compressed-tensors
        // divides s8 / g.
        if (q.config.scheme == Scheme::NVFP4)
          scale = rule == Rule::CompressedTensors ? scale / q.globalScaleStored
                                                  : scale * q.globalScale;
        dst[c] = decode(q.config.element, codes[c]) * scale;
      }
    }
  });
}

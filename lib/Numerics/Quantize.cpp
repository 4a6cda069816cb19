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
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>

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
  if (doubleQuant)
    return "double quantization of the nf4 absmax values is not implemented "
           "yet; quantize without --double-quant";
  if (swizzleScales && blockSize() == 0)
    return "a swizzled scale layout needs block scales (nvfp4, mxfp4, mxfp8)";
  if (swizzleScales && scheme == Scheme::NF4)
    return "a swizzled scale layout needs one-byte scales (nvfp4, mxfp4, "
           "mxfp8)";
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
void loadRow(const TensorView &input, int64_t row, float *out) {
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

/// max |x| over n values; returns NaN if any value is NaN or Inf.
float absMax(const float *x, int64_t n) {
  float m = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    float a = std::fabs(x[i]);
    m = a > m ? a : m;
    finite &= a <= std::numeric_limits<float>::max();
  }
  return finite ? m : std::numeric_limits<float>::quiet_NaN();
}

/// E2M1 magnitude code of |y| with round-to-nearest-even and saturation, by
/// comparison with the midpoints (vectorizes; equal to encodeE2M1).
inline uint8_t e2m1Magnitude(float y) {
  float a = std::fabs(y);
  return static_cast<uint8_t>((a > 0.25f) + (a >= 0.75f) + (a > 1.25f) +
                              (a >= 1.75f) + (a > 2.5f) + (a >= 3.5f) +
                              (a > 5.0f));
}

/// Sign conventions of the references for E2M1: ModelOpt NVFP4 and
/// compressed-tensors set the sign bit for y < 0 (so -0.0 -> 0x0); torchao
/// keeps the sign bit of y (so -0.0 -> 0x8).
inline uint8_t e2m1SignLess(float y) {
  return static_cast<uint8_t>((y < 0.0f) << 3) | e2m1Magnitude(y);
}
inline uint8_t e2m1SignBit(float y) {
  return static_cast<uint8_t>(std::signbit(y) << 3) | e2m1Magnitude(y);
}

inline float clampf(float x, float lo, float hi) {
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

/// Tensor-wide max |x| (NaN if a non-finite value is present).
float tensorAbsMax(const TensorView &input, unsigned threads, NonFinite &bad) {
  std::mutex mutex;
  float amax = 0.0f;
  parallelRows(input.rows, threads, {}, [&](int64_t begin, int64_t end) {
    std::vector<float> row(input.cols);
    float local = 0.0f;
    for (int64_t r = begin; r < end; ++r) {
      loadRow(input, r, row.data());
      float m = absMax(row.data(), input.cols);
      if (std::isnan(m))
        noteNonFinite(bad, row.data(), input.cols, r * input.cols);
      else
        local = std::max(local, m);
    }
    std::lock_guard<std::mutex> lock(mutex);
    amax = std::max(amax, local);
  });
  return amax;
}

void storeF32(std::vector<uint8_t> &bytes, int64_t index, float value) {
  std::memcpy(&bytes[index * 4], &value, 4);
}

float loadF32(const std::vector<uint8_t> &bytes, int64_t index) {
  float value;
  std::memcpy(&value, &bytes[index * 4], 4);
  return value;
}

//===----------------------------------------------------------------------===//
// Per-block kernels. Each writes `n` codes (one per byte) and returns the
// scale byte.
//===----------------------------------------------------------------------===//

/// ModelOpt NVFP4QTensor.quantize.
uint8_t nvfp4ModelOpt(const float *x, int64_t n, float s2, float sixS2,
                      uint8_t *codes) {
  float bamax = absMax(x, n);
  float s = bamax / sixS2;                        // ref: bamax / (6 * s2)
  if (s == 0.0f)
    s = 1.0f;                                     // ref: s[s == 0] = 1.0
  uint8_t byte = encodeE4M3(clampf(s, kTwoPowMinus9, 448.0f));
  float den = decodeE4M3(byte) * s2;              // ref: s8.float() * s2
  for (int64_t i = 0; i < n; ++i)
    codes[i] = e2m1SignLess(x[i] / den);          // ref: true division
  return byte;
}

/// torchao nvfp4_quantize with a per-tensor scale.
uint8_t nvfp4TorchAO(const float *x, int64_t n, float pts, float invPts,
                     uint8_t *codes) {
  float bs = absMax(x, n) / 6.0f;                 // ref: max_abs / 6.0
  uint8_t byte = encodeE4M3(clampf(bs / pts, kTwoPowMinus6, 448.0f));
  float r = invPts / decodeE4M3(byte);            // ref: (1.0 / pts) / s8
  for (int64_t i = 0; i < n; ++i)
    codes[i] = e2m1SignBit(clampf(x[i] * r, -6.0f, 6.0f));
  return byte;
}

/// compressed-tensors calculate_qparams + quantize (CPU path).
uint8_t nvfp4CompressedTensors(const float *x, int64_t n, float g,
                               uint8_t *codes) {
  float s = g * (absMax(x, n) / 6.0f);            // ref: g * (bamax / 6)
  uint8_t byte = encodeE4M3(clampf(s, -448.0f, 448.0f));
  float s8 = decodeE4M3(byte);
  if (s8 == 0.0f) {                               // ref: where(s == 0, 0.125)
    s8 = 0.125f;
    byte = encodeE4M3(s8);
  }
  float eff = s8 / g;                             // ref: scale / global_scale
  for (int64_t i = 0; i < n; ++i)
    codes[i] = e2m1SignLess(clampf(x[i] / eff, -6.0f, 6.0f));
  return byte;
}

int mxEmax(ElementFormat element) {
  switch (element) {
  case ElementFormat::E2M1:
    return 2;
  case ElementFormat::E4M3:
    return 8;
  default:
    return 15; // E5M2
  }
}

/// Encodes an already-scaled MX element (torchao: fp8 clamped to the range;
/// fp4 saturated by the cast; the sign bit is kept).
inline uint8_t mxElement(ElementFormat element, float y, float maxPos) {
  if (element == ElementFormat::E2M1)
    return e2m1SignBit(y);
  y = clampf(y, -maxPos, maxPos);
  return element == ElementFormat::E4M3 ? encodeE4M3(y, Overflow::Saturate)
                                        : encodeE5M2(y, Overflow::Saturate);
}

/// torchao to_mx, ScaleCalculationMode.FLOOR.
uint8_t mxFloor(const float *x, int64_t n, ElementFormat element,
                uint8_t *codes) {
  float amax = absMax(x, n);
  uint32_t bits;
  std::memcpy(&bits, &amax, 4);
  int p2 = static_cast<int>((bits >> 23) & 0xFF) - 127;  // ref: exponent field
  int ue = std::clamp(p2 - mxEmax(element), -127, 128);
  uint8_t e8 = static_cast<uint8_t>(ue + 127);
  uint32_t scaleBits = static_cast<uint32_t>(e8) << 23;
  float scale;
  std::memcpy(&scale, &scaleBits, 4);
  scale = std::max(scale, kTwoPowMinus126);              // ref: clamp to 2^-126
  float maxPos = maxFinite(element);
  for (int64_t i = 0; i < n; ++i)
    codes[i] = mxElement(element, x[i] / scale, maxPos);  // ref: true division
  return e8;
}

/// torchao _to_mx_rceil (also ModelOpt's MX scale).
uint8_t mxRCeil(const float *x, int64_t n, ElementFormat element,
                uint8_t *codes) {
  float maxPos = maxFinite(element);
  float desc = absMax(x, n) / maxPos;                     // ref: amax / max_pos
  int e = -127;
  if (desc > 0.0f) // ref: ceil(torch.log2(desc)) in float32
    e = std::clamp(static_cast<int>(std::ceil(
                       static_cast<float>(std::log2(static_cast<double>(desc))))),
                   -127, 127);
  uint8_t e8 = static_cast<uint8_t>(e + 127);
  // ref: e8 == 0 multiplies by 1.0 (not 2^127)
  float rcp = e8 == 0 ? 1.0f : std::ldexp(1.0f, 127 - e8);
  for (int64_t i = 0; i < n; ++i)
    codes[i] = mxElement(element, x[i] * rcp, maxPos);
  return e8;
}

/// FP8 scale as ModelOpt exports it: zero amax -> scale 1, clamp to the
/// normal float32 range, then amax / maxbound.
float fp8Scale(float amax, float maxBound) {
  if (amax == 0.0f)
    amax = maxBound;
  amax = clampf(amax, std::numeric_limits<float>::min(),
                std::numeric_limits<float>::max());
  return amax / maxBound;
}

inline uint8_t fp8Element(ElementFormat element, float y) {
  return element == ElementFormat::E4M3 ? encodeE4M3(y, Overflow::Saturate)
                                        : encodeE5M2(y, Overflow::Saturate);
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

  parallelRows(rows, config.threads, progress, [&](int64_t begin, int64_t end) {
    std::vector<float> row(cols);
    std::vector<uint8_t> codes(cols);
    for (int64_t r = begin; r < end; ++r) {
      loadRow(input, r, row.data());
      const float *x = row.data();
      if (block) {
        for (int64_t b = 0; b < cols / block; ++b) {
          const float *xb = x + b * block;
          uint8_t *cb = codes.data() + b * block;
          if (!needsAmax && std::isnan(absMax(xb, block))) {
            noteNonFinite(bad, xb, block, r * cols + b * block);
            continue;
          }
          int64_t scaleIndex = r * out.scaleCols + b;
          switch (config.scheme) {
          case Scheme::NVFP4:
            if (zeroTensor) {
              // Intended difference (docs/formats.md): the references give
              // NaN scales here; an all-zero tensor quantizes to zeros.
              std::memset(cb, 0, block);
              scales[scaleIndex] = rule == Rule::ModelOpt   ? 0x38  // 1.0
                                   : rule == Rule::TorchAO ? 0x08  // 2^-6
                                                            : 0x20; // 0.125
              if (rule == Rule::TorchAO)
                for (int64_t i = 0; i < block; ++i)
                  cb[i] = static_cast<uint8_t>(std::signbit(xb[i]) << 3);
              break;
            }
            scales[scaleIndex] =
                rule == Rule::ModelOpt ? nvfp4ModelOpt(xb, block, s2, sixS2, cb)
                : rule == Rule::TorchAO
                    ? nvfp4TorchAO(xb, block, s2, invPts, cb)
                    : nvfp4CompressedTensors(xb, block, g, cb);
            break;
          case Scheme::MXFP4:
          case Scheme::MXFP8:
            scales[scaleIndex] = rule == Rule::Floor
                                     ? mxFloor(xb, block, config.element, cb)
                                     : mxRCeil(xb, block, config.element, cb);
            break;
          case Scheme::NF4: {
            float absmax = absMax(xb, block);
            // ref: bitsandbytes default backend: x * (1 / clamp(absmax, 1e-38))
            float inv = 1.0f / std::max(absmax, 1e-38f);
            for (int64_t i = 0; i < block; ++i)
              cb[i] = encodeNF4(clampf(xb[i] * inv, -1.0f, 1.0f));
            storeF32(scales, scaleIndex, absmax);
            break;
          }
          case Scheme::FP8:
            break;
          }
        }
      } else { // FP8 per tensor / per channel
        float scale = fp8TensorScale;
        if (config.perChannel) {
          float rowMax = absMax(x, cols);
          if (std::isnan(rowMax)) {
            noteNonFinite(bad, x, cols, r * cols);
            continue;
          }
          scale = fp8Scale(rowMax, fp8MaxBound);
          storeF32(scales, r, scale);
        }
        for (int64_t i = 0; i < cols; ++i)
          codes[i] = fp8Element(config.element, x[i] / scale); // ref: W / scale
      }
      uint8_t *dst = out.data.data() + (fourBit ? r * cols / 2 : r * cols);
      if (fourBit)
        pack4(codes.data(), cols, dst, config.nibbleOrder);
      else
        std::memcpy(dst, codes.data(), cols);
    }
  });
  if (bad.any())
    return nonFiniteError(input, bad.index.load());

  if (config.scheme == Scheme::FP8 && !config.perChannel)
    storeF32(scales, 0, fp8TensorScale);
  if (config.scheme == Scheme::NVFP4) {
    if (rule == Rule::CompressedTensors) {
      out.globalScaleStored = g;
      out.globalScale = 1.0f / g;
    } else {
      out.globalScaleStored = s2;
      out.globalScale = s2;
    }
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

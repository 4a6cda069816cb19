//===- ElementFormats.cpp - encode/decode narrow float formats ------------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/ElementFormats.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

using namespace fp4::numerics;

namespace {

uint32_t bitsOf(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return bits;
}

float floatOf(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, sizeof(x));
  return x;
}

/// Rounds a finite magnitude `a >= 0` to a minifloat with `manBits` mantissa
/// bits and exponent `bias`, to nearest with ties to even, and returns the
/// magnitude code (exponent and mantissa fields). Codes grow with the value,
/// so a result above the format's largest code means overflow. Subnormal
/// targets are handled by scaling to an integer count of the smallest
/// subnormal step; a result of 2^manBits is then exactly the smallest normal.
uint32_t roundMagnitude(float a, int manBits, int bias) {
  uint32_t bits = bitsOf(a);
  int32_t exp32 = static_cast<int32_t>(bits >> 23);
  if (exp32 < 127 + 1 - bias) {
    float steps = std::ldexp(a, bias - 1 + manBits); // exact: power of two
    return static_cast<uint32_t>(std::nearbyint(steps));
  }
  const int shift = 23 - manBits;
  uint32_t lsb = (bits >> shift) & 1u;
  uint32_t rounded = bits + ((1u << (shift - 1)) - 1u) + lsb;
  // For huge inputs the code only needs to compare above the maximum.
  return (rounded >> shift) - (static_cast<uint32_t>(127 - bias) << manBits);
}

/// A sign-magnitude 4-bit float with no Inf/NaN (E2M1, E1M2, E3M0): overflow
/// and Inf saturate; NaN encodes as ml_dtypes does for E2M1: magnitude 0 with
/// the sign bit flipped (+NaN -> 0x8, -NaN -> 0x0).
uint8_t encodeSaturating4Bit(float x, int manBits, int bias) {
  uint32_t sign = (bitsOf(x) >> 31) << 3;
  if (std::isnan(x))
    return static_cast<uint8_t>(sign ^ 0x8u);
  float a = std::fabs(x);
  uint32_t code = std::isinf(a) ? 7u : roundMagnitude(a, manBits, bias);
  if (code > 7u)
    code = 7u;
  return static_cast<uint8_t>(sign | code);
}

/// An 8-bit sign-magnitude float with NaN code `nanCode` (low 7 bits),
/// largest finite magnitude code `maxCode` and, for Native overflow, the
/// code used for Inf/overflow (`overflowCode`).
uint8_t encode8Bit(float x, int manBits, int bias, uint32_t maxCode,
                   uint32_t nanCode, uint32_t overflowCode, Overflow overflow) {
  uint32_t sign = (bitsOf(x) >> 31) << 7;
  if (std::isnan(x))
    return static_cast<uint8_t>(sign | nanCode);
  float a = std::fabs(x);
  uint32_t code = std::isinf(a) ? maxCode + 1 : roundMagnitude(a, manBits, bias);
  if (code > maxCode)
    code = overflow == Overflow::Saturate ? maxCode : overflowCode;
  return static_cast<uint8_t>(sign | code);
}

constexpr float kNF4[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f};

constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

} // namespace

//===----------------------------------------------------------------------===//
// Format properties
//===----------------------------------------------------------------------===//

unsigned fp4::numerics::bitWidth(ElementFormat format) {
  switch (format) {
  case ElementFormat::E4M3:
  case ElementFormat::E5M2:
    return 8;
  default:
    return 4;
  }
}

float fp4::numerics::maxFinite(ElementFormat format) {
  switch (format) {
  case ElementFormat::E2M1:
    return 6.0f;
  case ElementFormat::E4M3:
    return 448.0f;
  case ElementFormat::E5M2:
    return 57344.0f;
  case ElementFormat::NF4:
    return 1.0f;
  case ElementFormat::E1M2:
    return 1.75f;
  case ElementFormat::E3M0:
    return 16.0f;
  }
  return 0.0f;
}

std::string_view fp4::numerics::name(ElementFormat format) {
  switch (format) {
  case ElementFormat::E2M1:
    return "e2m1";
  case ElementFormat::E4M3:
    return "e4m3";
  case ElementFormat::E5M2:
    return "e5m2";
  case ElementFormat::NF4:
    return "nf4";
  case ElementFormat::E1M2:
    return "e1m2";
  case ElementFormat::E3M0:
    return "e3m0";
  }
  return "?";
}

std::optional<ElementFormat>
fp4::numerics::parseElementFormat(std::string_view text) {
  for (ElementFormat format :
       {ElementFormat::E2M1, ElementFormat::E4M3, ElementFormat::E5M2,
        ElementFormat::NF4, ElementFormat::E1M2, ElementFormat::E3M0})
    if (name(format) == text)
      return format;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Encoders
//===----------------------------------------------------------------------===//

uint8_t fp4::numerics::encodeE2M1(float x) {
  return encodeSaturating4Bit(x, /*manBits=*/1, /*bias=*/1);
}

uint8_t fp4::numerics::encodeE1M2(float x) {
  return encodeSaturating4Bit(x, /*manBits=*/2, /*bias=*/1);
}

uint8_t fp4::numerics::encodeE3M0(float x) {
  return encodeSaturating4Bit(x, /*manBits=*/0, /*bias=*/3);
}

uint8_t fp4::numerics::encodeE4M3(float x, Overflow overflow) {
  // Largest finite 0x7E = 448; 0x7F is NaN; no Inf, so overflow is NaN.
  return encode8Bit(x, /*manBits=*/3, /*bias=*/7, /*maxCode=*/0x7E,
                    /*nanCode=*/0x7F, /*overflowCode=*/0x7F, overflow);
}

uint8_t fp4::numerics::encodeE5M2(float x, Overflow overflow) {
  // Largest finite 0x7B = 57344; 0x7C is Inf; ml_dtypes' NaN is 0x7E.
  return encode8Bit(x, /*manBits=*/2, /*bias=*/15, /*maxCode=*/0x7B,
                    /*nanCode=*/0x7E, /*overflowCode=*/0x7C, overflow);
}

uint8_t fp4::numerics::encodeUE4M3(float x) {
  if (std::isnan(x))
    return 0x7F;
  return encodeE4M3(std::fabs(x), Overflow::Saturate);
}

uint8_t fp4::numerics::encodeUE8M0(float x) {
  // E8M0 has the exponent field of binary32, so the byte is the rounded
  // exponent. The significand rounds to nearest even; for a normal number it
  // is 1 (odd), so a mantissa of exactly one half rounds up, while for a
  // binary32 subnormal it is 0 and a half rounds down. Results that round to
  // zero clamp to 2^-127.
  uint32_t bits = bitsOf(x);
  if (std::isnan(x) || std::isinf(x) || (bits >> 31) || x == 0.0f)
    return 0xFF;
  uint32_t exp32 = bits >> 23;
  uint32_t mantissa = bits & 0x7FFFFFu;
  if (exp32 == 0)
    return mantissa > 0x400000u ? 1 : 0;
  uint32_t byte = exp32 + (mantissa >= 0x400000u ? 1u : 0u);
  return byte > 254u ? 0xFF : static_cast<uint8_t>(byte);
}

uint8_t fp4::numerics::encodeNF4(float x) {
  if (std::isnan(x))
    return 7;
  // Nearest entry; at an exact midpoint the lower entry wins.
  uint8_t index = 0;
  for (uint8_t i = 1; i < 16; ++i) {
    float midpoint = 0.5f * (kNF4[i - 1] + kNF4[i]);
    if (x > midpoint)
      index = i;
  }
  return index;
}

uint8_t fp4::numerics::encode(ElementFormat format, float x,
                              Overflow overflow) {
  switch (format) {
  case ElementFormat::E2M1:
    return encodeE2M1(x);
  case ElementFormat::E4M3:
    return encodeE4M3(x, overflow);
  case ElementFormat::E5M2:
    return encodeE5M2(x, overflow);
  case ElementFormat::NF4:
    return encodeNF4(x);
  case ElementFormat::E1M2:
    return encodeE1M2(x);
  case ElementFormat::E3M0:
    return encodeE3M0(x);
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// Decoders
//===----------------------------------------------------------------------===//

float fp4::numerics::decodeE2M1(uint8_t code) {
  float magnitude = kE2M1[code & 7u];
  return (code & 8u) ? -magnitude : magnitude;
}

float fp4::numerics::decodeE1M2(uint8_t code) {
  uint32_t e = (code >> 2) & 1u, m = code & 3u;
  float magnitude = e ? 1.0f + 0.25f * m : 0.25f * m;
  return (code & 8u) ? -magnitude : magnitude;
}

float fp4::numerics::decodeE3M0(uint8_t code) {
  uint32_t e = code & 7u;
  float magnitude = e ? std::ldexp(1.0f, static_cast<int>(e) - 3) : 0.0f;
  return (code & 8u) ? -magnitude : magnitude;
}

namespace {
/// 2^e for e in [-126, 127], exactly (constexpr, so tables need no libm).
constexpr float powerOfTwo(int e) {
  float value = 1.0f;
  for (; e > 0; --e)
    value *= 2.0f;
  for (; e < 0; ++e)
    value *= 0.5f;
  return value;
}

/// Every E4M3 code decoded: quantizers decode one scale per block, so this
/// sits on the hot path.
struct E4M3Table {
  float values[256];
  constexpr E4M3Table() : values() {
    for (unsigned code = 0; code < 256; ++code) {
      unsigned e = (code >> 3) & 15u, m = code & 7u;
      float magnitude = 0.0f;
      if (e == 15 && m == 7)
        magnitude = std::numeric_limits<float>::quiet_NaN();
      else if (e == 0)
        magnitude = static_cast<float>(m) * powerOfTwo(-9);
      else
        magnitude = (1.0f + m / 8.0f) * powerOfTwo(static_cast<int>(e) - 7);
      values[code] = (code & 0x80u) ? -magnitude : magnitude;
    }
  }
};
constexpr E4M3Table kE4M3Table;
} // namespace

float fp4::numerics::decodeE4M3(uint8_t code) { return kE4M3Table.values[code]; }

float fp4::numerics::decodeE5M2(uint8_t code) {
  uint32_t e = (code >> 2) & 31u, m = code & 3u;
  float magnitude;
  if (e == 31)
    magnitude = m ? std::numeric_limits<float>::quiet_NaN()
                  : std::numeric_limits<float>::infinity();
  else if (e == 0)
    magnitude = std::ldexp(static_cast<float>(m), -16);
  else
    magnitude = std::ldexp(1.0f + m / 4.0f, static_cast<int>(e) - 15);
  return (code & 0x80u) ? -magnitude : magnitude;
}

float fp4::numerics::decodeUE4M3(uint8_t code) {
  return decodeE4M3(code & 0x7Fu);
}

float fp4::numerics::decodeUE8M0(uint8_t code) {
  if (code == 0xFF)
    return std::numeric_limits<float>::quiet_NaN();
  if (code == 0)
    return powerOfTwo(-126) * 0.5f; // 2^-127, a binary32 subnormal
  uint32_t bits = static_cast<uint32_t>(code) << 23;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

float fp4::numerics::decodeNF4(uint8_t code) { return kNF4[code & 15u]; }

const float *fp4::numerics::nf4Codebook() { return kNF4; }

float fp4::numerics::decode(ElementFormat format, uint8_t code) {
  switch (format) {
  case ElementFormat::E2M1:
    return decodeE2M1(code);
  case ElementFormat::E4M3:
    return decodeE4M3(code);
  case ElementFormat::E5M2:
    return decodeE5M2(code);
  case ElementFormat::NF4:
    return decodeNF4(code);
  case ElementFormat::E1M2:
    return decodeE1M2(code);
  case ElementFormat::E3M0:
    return decodeE3M0(code);
  }
  return 0.0f;
}

//===----------------------------------------------------------------------===//
// bfloat16 / half
//===----------------------------------------------------------------------===//

uint16_t fp4::numerics::floatToBF16(float x) {
  uint32_t bits = bitsOf(x);
  if (std::isnan(x))
    return static_cast<uint16_t>((bits >> 16) | 0x40u); // keep it quiet NaN
  uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);
}

float fp4::numerics::bf16ToFloat(uint16_t bits) {
  return floatOf(static_cast<uint32_t>(bits) << 16);
}

float fp4::numerics::halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 31u, m = h & 1023u;
  if (e == 31)
    return floatOf(sign | 0x7F800000u | (m << 13));
  if (e == 0) {
    float magnitude = std::ldexp(static_cast<float>(m), -24);
    return sign ? -magnitude : magnitude;
  }
  return floatOf(sign | ((e - 15 + 127) << 23) | (m << 13));
}

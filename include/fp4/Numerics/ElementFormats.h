//===- ElementFormats.h - encode/decode narrow float formats ----*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency.
//
// Element and scale codecs: E2M1, E4M3, E5M2, UE4M3, UE8M0, NF4, E1M2, E3M0.
// Encoders round to nearest, ties to even, and treat overflow, NaN and Inf
// exactly as docs/formats.md section 1 specifies (which is what ml_dtypes
// does for the formats it has). Decoders are exact.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_NUMERICS_ELEMENTFORMATS_H
#define FP4_NUMERICS_ELEMENTFORMATS_H

#include <cstdint>
#include <optional>
#include <string_view>

namespace fp4::numerics {

/// Element formats of quantized data.
enum class ElementFormat : uint8_t { E2M1, E4M3, E5M2, NF4, E1M2, E3M0 };

/// Storage formats of scale factors.
enum class ScaleFormat : uint8_t { F32, BF16, UE4M3, UE8M0 };

/// Bits per code: 4 or 8.
unsigned bitWidth(ElementFormat format);
/// Largest finite magnitude of a format (1.0 for NF4, whose codebook is
/// normalized).
float maxFinite(ElementFormat format);
std::string_view name(ElementFormat format);
std::optional<ElementFormat> parseElementFormat(std::string_view name);

//===----------------------------------------------------------------------===//
// Encoders: float -> code. `Saturate` clamps finite overflow (and Inf) to the
// largest finite code instead of the format's overflow value.
//===----------------------------------------------------------------------===//

enum class Overflow : uint8_t {
  /// The format's own behaviour: E4M3 -> NaN, E5M2 -> Inf; the formats with
  /// neither (E2M1, E1M2, E3M0) always saturate.
  Native,
  /// Clamp to +-max finite.
  Saturate,
};

/// E2M1 (f4E2M1FN): codes 0..15, bit 3 is the sign. NaN encodes as 0x8 (-0),
/// as ml_dtypes does; Inf and overflow saturate to +-6.
uint8_t encodeE2M1(float x);
/// E4M3 (f8E4M3FN): NaN -> 0x7F with the input's sign bit; Native overflow
/// (|x| > 464, or Inf) -> NaN.
uint8_t encodeE4M3(float x, Overflow overflow = Overflow::Native);
/// E5M2 (f8E5M2): NaN -> 0x7E with the input's sign bit; Native overflow
/// (|x| >= 61440) -> Inf (0x7C).
uint8_t encodeE5M2(float x, Overflow overflow = Overflow::Native);
/// E1M2 / E3M0 (research formats, no Inf/NaN): NaN -> 0x8 (-0) like E2M1;
/// overflow saturates.
uint8_t encodeE1M2(float x);
uint8_t encodeE3M0(float x);
/// NF4: index of the nearest codebook entry to `x` (already divided by the
/// block's absmax), ties to the lower entry, as bitsandbytes' decision tree.
/// NaN -> index 7 (0.0).
uint8_t encodeNF4(float x);

/// UE4M3 scale: an E4M3 byte with the sign bit clear; x is expected >= 0.
/// Saturates at 448; NaN -> 0x7F.
uint8_t encodeUE4M3(float x);
/// UE8M0 scale as ml_dtypes casts a float: the nearest power of two 2^(b-127),
/// rounding a mantissa of exactly one half up; NaN, Inf, negative numbers and
/// -0 -> 0xFF; 0 and values below 2^-127 -> 0x00; above 2^127 -> 0xFF.
uint8_t encodeUE8M0(float x);

//===----------------------------------------------------------------------===//
// Decoders: code -> float (exact).
//===----------------------------------------------------------------------===//

float decodeE2M1(uint8_t code);
float decodeE4M3(uint8_t code);
float decodeE5M2(uint8_t code);
float decodeE1M2(uint8_t code);
float decodeE3M0(uint8_t code);
float decodeNF4(uint8_t code);
float decodeUE8M0(uint8_t code);
/// UE4M3 decodes as E4M3 (the sign bit is ignored).
float decodeUE4M3(uint8_t code);

/// Encode / decode with the format chosen at run time.
uint8_t encode(ElementFormat format, float x,
               Overflow overflow = Overflow::Native);
float decode(ElementFormat format, uint8_t code);

/// The 16 NF4 codebook values (bitsandbytes), ascending.
const float *nf4Codebook();

/// bfloat16 <-> float, round to nearest even (NaN stays NaN).
uint16_t floatToBF16(float x);
float bf16ToFloat(uint16_t bits);
/// IEEE half -> float (exact).
float halfToFloat(uint16_t bits);

} // namespace fp4::numerics

#endif // FP4_NUMERICS_ELEMENTFORMATS_H

//===- Quantize.h - block quantizers and dequantizers -----------*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency.
//
// Quantizes a tensor viewed as [rows, cols] (row-major; blocks run along
// cols, the last axis) to NVFP4, MXFP4, MXFP8, FP8 or NF4, following a named
// reference's order of float operations exactly (docs/formats.md section 5).
// Work is split over rows across threads; every inner loop runs over one
// block of contiguous elements.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_NUMERICS_QUANTIZE_H
#define FP4_NUMERICS_QUANTIZE_H

#include "fp4/Numerics/ElementFormats.h"
#include "fp4/Numerics/Layout.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fp4::numerics {

enum class Scheme : uint8_t { NVFP4, MXFP4, MXFP8, FP8, NF4 };

/// Which reference's order of operations derives the scales.
enum class Rule : uint8_t {
  Default,           // modelopt for NVFP4, floor for MX, absmax otherwise
  ModelOpt,          // NVFP4
  TorchAO,           // NVFP4
  CompressedTensors, // NVFP4
  Floor,             // MX (OCP MX v1.0)
  RCeil,             // MX (cuBLAS / ModelOpt)
};

/// How scales are chosen (weights; docs/formats.md section 8): NVFP4 block
/// scales, and with MSE also FP8 tensor or channel scales.
enum class BlockScales : uint8_t {
  Max,         // the rule's own: the block maximum maps to 6 (FP8: to 448)
  FourOverSix, // NVFP4: the better (squared error) of mapping the maximum to 6
               // or 4
  MSE,         // NVFP4: the finite E4M3 block scale with the least squared
               // error; FP8: the least of 64 scales from max to 2x max
};

std::string_view name(Scheme scheme);
std::string_view name(Rule rule);
std::string_view name(BlockScales choice);
std::optional<Scheme> parseScheme(std::string_view text);
std::optional<Rule> parseRule(std::string_view text);
std::optional<BlockScales> parseBlockScales(std::string_view text);

struct QuantConfig {
  Scheme scheme = Scheme::NVFP4;
  /// E2M1 for NVFP4/MXFP4, NF4 for NF4, E4M3 or E5M2 for MXFP8/FP8.
  ElementFormat element = ElementFormat::E2M1;
  Rule rule = Rule::Default;
  /// FP8: one scale per row (output channel) instead of one per tensor.
  bool perChannel = false;
  /// NF4: quantize the absmax values again (bitsandbytes compress_statistics).
  bool doubleQuant = false;
  NibbleOrder nibbleOrder = NibbleOrder::LowFirst;
  /// NVFP4 / MX: store block scales in the Blackwell 128x4 tile layout.
  bool swizzleScales = false;
  /// NVFP4 (ModelOpt rule): how each block's scale is chosen. The global
  /// scale, the element rounding and the storage are the rule's. FP8 (MSE
  /// only): how the tensor's or each channel's scale is chosen.
  BlockScales blockScales = BlockScales::Max;
  /// A calibrated absolute maximum of the whole tensor (0: measure it). Sets
  /// the per-tensor quantity, FP8's tensor scale or NVFP4's global scale,
  /// instead of the data's amax; elements beyond it saturate. NVFP4 and
  /// per-tensor FP8 only.
  float staticAmax = 0.0f;
  /// Worker threads; 0 means all hardware threads.
  unsigned threads = 0;

  /// The config for a preset name ("nvfp4", "mxfp4", "mxfp8", "fp8", "nf4").
  static std::optional<QuantConfig> forScheme(Scheme scheme);
  /// Elements per scale along a row (0 for per-tensor / per-channel).
  int64_t blockSize() const;
  ScaleFormat scaleFormat() const;
  Rule effectiveRule() const;
  /// Empty if this config can quantize a [rows, cols] tensor, else a message
  /// saying what is wrong and what would work.
  std::string check(int64_t rows, int64_t cols) const;
};

/// Input element types.
enum class InputType : uint8_t { F32, F16, BF16 };

/// A row-major [rows, cols] tensor in memory.
struct TensorView {
  const void *data = nullptr;
  InputType type = InputType::F32;
  int64_t rows = 0, cols = 0;
};

struct QuantizedTensor {
  QuantConfig config;
  int64_t rows = 0, cols = 0;
  /// Codes: packed two per byte for 4-bit formats, one per byte for FP8.
  std::vector<uint8_t> data;
  /// Scale storage: one byte per scale for UE4M3/UE8M0 (swizzled when the
  /// config asks), four little-endian bytes (float32) for F32 scales.
  std::vector<uint8_t> scales;
  /// The logical scale matrix, before any swizzle: [scaleRows, scaleCols].
  int64_t scaleRows = 0, scaleCols = 0;
  /// NVFP4: the per-tensor scale as a multiplier, x ~ code * sb * global.
  float globalScale = 1.0f;
  /// NVFP4: what the rule itself stores (ModelOpt weight_scale_2 = global;
  /// compressed-tensors weight_global_scale, a divisor; torchao
  /// per_tensor_scale).
  float globalScaleStored = 1.0f;
  /// NF4 with double quantization: 8-bit codes of the absmax values, one
  /// FP32 scale per 256 of them, and the mean subtracted before.
  std::vector<uint8_t> absmaxCodes;
  std::vector<float> absmaxScales;
  float absmaxOffset = 0.0f;

  float scaleAt(int64_t row, int64_t col) const;
};

/// Progress callback: called with the number of rows finished so far.
using ProgressFn = std::function<void(int64_t rowsDone)>;

/// Quantizes `input`. Returns an empty string on success, else an error
/// message (bad shape for the scheme, or non-finite input, whose first
/// position is named).
std::string quantize(const TensorView &input, const QuantConfig &config,
                     QuantizedTensor &out, const ProgressFn &progress = {});

/// Expands `q` to float32 (rows * cols values): code * scale (* global).
void dequantize(const QuantizedTensor &q, float *out);

/// E2M1 encoding of a block, written for speed (branch-free compares); equal
/// to encodeE2M1 for every input.
void encodeE2M1Block(const float *values, int64_t n, float scaleReciprocal,
                     uint8_t *codes);

} // namespace fp4::numerics

#endif // FP4_NUMERICS_QUANTIZE_H

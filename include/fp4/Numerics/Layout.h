//===- Layout.h - packing of 4-bit codes and the scale swizzle --*- C++ -*-===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef FP4_NUMERICS_LAYOUT_H
#define FP4_NUMERICS_LAYOUT_H

#include <cstddef>
#include <cstdint>

namespace fp4::numerics {

/// Which nibble of a byte holds the even-indexed element.
enum class NibbleOrder : uint8_t {
  /// The even element in the low nibble: the order of ModelOpt, torchao,
  /// compressed-tensors and the PTX `e2m1x2` types. The default.
  LowFirst,
  /// The even element in the high nibble: bitsandbytes' order.
  HighFirst,
};

/// Packs `n` 4-bit codes (one per byte, in the low nibble) two per byte; `n`
/// must be even.
void pack4(const uint8_t *codes, size_t n, uint8_t *packed,
           NibbleOrder order = NibbleOrder::LowFirst);
/// Inverse of pack4: writes `n` codes.
void unpack4(const uint8_t *packed, size_t n, uint8_t *codes,
             NibbleOrder order = NibbleOrder::LowFirst);

/// The Blackwell block-scale layout: a [rows, cols] matrix of one-byte scales
/// is padded to [roundup(rows, 128), roundup(cols, 4)] with zeros and cut
/// into 128x4 tiles of 512 bytes, stored tile-row-major; inside a tile entry
/// (r, c) is at byte (r % 32) * 16 + (r / 32) * 4 + c.
size_t swizzledScaleBytes(int64_t rows, int64_t cols);
/// Byte offset of entry (row, col) in the swizzled layout.
size_t swizzledScaleOffset(int64_t row, int64_t col, int64_t cols);
void swizzleScales(const uint8_t *scales, int64_t rows, int64_t cols,
                   uint8_t *swizzled);
void unswizzleScales(const uint8_t *swizzled, int64_t rows, int64_t cols,
                     uint8_t *scales);

} // namespace fp4::numerics

#endif // FP4_NUMERICS_LAYOUT_H

//===- Layout.cpp - packing of 4-bit codes and the scale swizzle ----------===//
//
// Part of fp4-mlir. No MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/Layout.h"

#include <cstring>

using namespace fp4::numerics;

void fp4::numerics::pack4(const uint8_t *codes, size_t n, uint8_t *packed,
                          NibbleOrder order) {
  const unsigned evenShift = order == NibbleOrder::LowFirst ? 0 : 4;
  const unsigned oddShift = 4 - evenShift;
  for (size_t i = 0; i < n / 2; ++i)
    packed[i] = static_cast<uint8_t>(((codes[2 * i] & 0xFu) << evenShift) |
                                     ((codes[2 * i + 1] & 0xFu) << oddShift));
}

void fp4::numerics::unpack4(const uint8_t *packed, size_t n, uint8_t *codes,
                            NibbleOrder order) {
  const unsigned evenShift = order == NibbleOrder::LowFirst ? 0 : 4;
  const unsigned oddShift = 4 - evenShift;
  for (size_t i = 0; i < n / 2; ++i) {
    codes[2 * i] = (packed[i] >> evenShift) & 0xFu;
    codes[2 * i + 1] = (packed[i] >> oddShift) & 0xFu;
  }
}

static int64_t roundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

size_t fp4::numerics::swizzledScaleBytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>(roundUp(rows, 128) * roundUp(cols, 4));
}

size_t fp4::numerics::swizzledScaleOffset(int64_t row, int64_t col,
                                          int64_t cols) {
  int64_t tilesPerRow = roundUp(cols, 4) / 4;
  int64_t tile = (row / 128) * tilesPerRow + col / 4;
  int64_t r = row % 128, c = col % 4;
  return static_cast<size_t>(tile * 512 + (r % 32) * 16 + (r / 32) * 4 + c);
}

void fp4::numerics::swizzleScales(const uint8_t *scales, int64_t rows,
                                  int64_t cols, uint8_t *swizzled) {
  std::memset(swizzled, 0, swizzledScaleBytes(rows, cols));
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < cols; ++col)
      swizzled[swizzledScaleOffset(row, col, cols)] = scales[row * cols + col];
}

void fp4::numerics::unswizzleScales(const uint8_t *swizzled, int64_t rows,
                                    int64_t cols, uint8_t *scales) {
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < cols; ++col)
      scales[row * cols + col] = swizzled[swizzledScaleOffset(row, col, cols)];
}

//===- BlockQuantGoldenTest.cpp - quantizers vs reference libraries -------===//
//
// Part of fp4-mlir. Compares packed codes, scale bytes and global scales,
// byte for byte, with vectors produced by ModelOpt, torchao,
// compressed-tensors and bitsandbytes (test/Numerics/golden/
// generate_blocks.py).
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/Quantize.h"
#include "fp4/Support/Npy.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using namespace fp4;
using namespace fp4::numerics;

namespace {

NdArray load(const std::string &name) {
  NdArray array;
  std::string error;
  EXPECT_TRUE(readNpy(std::string(FP4_GOLDEN_DIR) + "/" + name, array, error))
      << error;
  return array;
}

struct GoldenSet {
  const char *name;
  Scheme scheme;
  ElementFormat element;
  Rule rule;
  bool perChannel = false;
  NibbleOrder order = NibbleOrder::LowFirst;
};

void PrintTo(const GoldenSet &set, std::ostream *os) { *os << set.name; }

class BlockGoldens : public ::testing::TestWithParam<GoldenSet> {};

TEST_P(BlockGoldens, BytesMatchReference) {
  const GoldenSet &set = GetParam();
  NdArray inputs = load(std::string(set.name) + "_input.npy");
  NdArray data = load(std::string(set.name) + "_data.npy");
  NdArray scales = load(std::string(set.name) + "_scales.npy");
  ASSERT_EQ(inputs.shape.size(), 3u);
  int64_t numCases = inputs.shape[0], rows = inputs.shape[1],
          cols = inputs.shape[2];
  size_t dataPerCase = data.bytes.size() / numCases;
  size_t scalesPerCase = scales.bytes.size() / numCases;
  NdArray globals;
  if (set.scheme == Scheme::NVFP4)
    globals = load(std::string(set.name) + "_global.npy");

  QuantConfig config = *QuantConfig::forScheme(set.scheme);
  config.element = set.element;
  config.rule = set.rule;
  config.perChannel = set.perChannel;
  config.nibbleOrder = set.order;
  for (int64_t c = 0; c < numCases; ++c) {
    TensorView view;
    view.data = inputs.data<float>() + c * rows * cols;
    view.rows = rows;
    view.cols = cols;
    QuantizedTensor q;
    ASSERT_EQ(quantize(view, config, q), "") << set.name << " case " << c;
    ASSERT_EQ(q.data.size(), dataPerCase);
    ASSERT_EQ(q.scales.size(), scalesPerCase);
    int dataMismatches = 0, scaleMismatches = 0;
    for (size_t i = 0; i < dataPerCase; ++i) {
      uint8_t want = data.bytes[c * dataPerCase + i];
      if (q.data[i] != want && ++dataMismatches <= 5)
        ADD_FAILURE() << set.name << " case " << c << " data byte " << i
                      << ": expected 0x" << std::hex << unsigned(want)
                      << " got 0x" << unsigned(q.data[i]);
    }
    for (size_t i = 0; i < scalesPerCase; ++i) {
      uint8_t want = scales.bytes[c * scalesPerCase + i];
      if (q.scales[i] != want && ++scaleMismatches <= 5)
        ADD_FAILURE() << set.name << " case " << c << " scale byte " << i
                      << ": expected 0x" << std::hex << unsigned(want)
                      << " got 0x" << unsigned(q.scales[i]);
    }
    EXPECT_EQ(dataMismatches, 0) << set.name << " case " << c;
    EXPECT_EQ(scaleMismatches, 0) << set.name << " case " << c;
    if (set.scheme == Scheme::NVFP4) {
      float want = globals.data<float>()[c];
      EXPECT_EQ(std::memcmp(&want, &q.globalScaleStored, 4), 0)
          << set.name << " case " << c << ": global " << want << " vs "
          << q.globalScaleStored;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    References, BlockGoldens,
    ::testing::Values(
        GoldenSet{"nvfp4_modelopt", Scheme::NVFP4, ElementFormat::E2M1, Rule::ModelOpt},
        GoldenSet{"nvfp4_torchao", Scheme::NVFP4, ElementFormat::E2M1, Rule::TorchAO},
        GoldenSet{"nvfp4_ct", Scheme::NVFP4, ElementFormat::E2M1, Rule::CompressedTensors},
        GoldenSet{"mxfp4_floor", Scheme::MXFP4, ElementFormat::E2M1, Rule::Floor},
        GoldenSet{"mxfp4_rceil", Scheme::MXFP4, ElementFormat::E2M1, Rule::RCeil},
        GoldenSet{"mxfp8_e4m3_floor", Scheme::MXFP8, ElementFormat::E4M3, Rule::Floor},
        GoldenSet{"mxfp8_e4m3_rceil", Scheme::MXFP8, ElementFormat::E4M3, Rule::RCeil},
        GoldenSet{"mxfp8_e5m2_floor", Scheme::MXFP8, ElementFormat::E5M2, Rule::Floor},
        GoldenSet{"mxfp8_e5m2_rceil", Scheme::MXFP8, ElementFormat::E5M2, Rule::RCeil},
        GoldenSet{"fp8_tensor", Scheme::FP8, ElementFormat::E4M3, Rule::Default},
        GoldenSet{"fp8_channel", Scheme::FP8, ElementFormat::E4M3, Rule::Default, true},
        GoldenSet{"nf4", Scheme::NF4, ElementFormat::NF4, Rule::Default, false,
                  NibbleOrder::HighFirst}),
    [](const ::testing::TestParamInfo<GoldenSet> &info) {
      return std::string(info.param.name);
    });

TEST(Swizzle, MatchesTorchaoToBlocked) {
  NdArray input = load("swizzle_input.npy");
  NdArray blocked = load("swizzle_blocked.npy");
  int64_t rows = input.shape[0], cols = input.shape[1];
  ASSERT_EQ(swizzledScaleBytes(rows, cols), blocked.bytes.size());
  std::vector<uint8_t> out(blocked.bytes.size());
  swizzleScales(input.bytes.data(), rows, cols, out.data());
  EXPECT_EQ(out, blocked.bytes);
  std::vector<uint8_t> back(rows * cols);
  unswizzleScales(out.data(), rows, cols, back.data());
  EXPECT_EQ(back, input.bytes);
}

} // namespace

namespace {

/// bitsandbytes NF4 with compress_statistics: packed codes (high nibble
/// first), the 8-bit absmax codes, their per-256 scales and the mean offset.
TEST(NF4DoubleQuant, BytesMatchBitsandbytes) {
  NdArray inputs = load("nf4_dq_input.npy"), data = load("nf4_dq_data.npy"),
          codes = load("nf4_dq_scales.npy"), absmax2 = load("nf4_dq_absmax2.npy"),
          offsets = load("nf4_dq_offset.npy");
  int64_t numCases = inputs.shape[0], rows = inputs.shape[1],
          cols = inputs.shape[2];
  size_t dataPerCase = data.bytes.size() / numCases;
  size_t codesPerCase = codes.bytes.size() / numCases;
  size_t scalesPerCase = absmax2.numElements() / numCases;
  QuantConfig config = *QuantConfig::forScheme(Scheme::NF4);
  config.doubleQuant = true;
  config.nibbleOrder = NibbleOrder::HighFirst;
  for (int64_t c = 0; c < numCases; ++c) {
    TensorView view{inputs.data<float>() + c * rows * cols, InputType::F32,
                    rows, cols};
    QuantizedTensor q;
    ASSERT_EQ(quantize(view, config, q), "");
    EXPECT_EQ(0, std::memcmp(q.data.data(), &data.bytes[c * dataPerCase],
                             dataPerCase))
        << "case " << c;
    ASSERT_EQ(q.absmaxCodes.size(), codesPerCase);
    EXPECT_EQ(0, std::memcmp(q.absmaxCodes.data(),
                             &codes.bytes[c * codesPerCase], codesPerCase))
        << "case " << c;
    ASSERT_EQ(q.absmaxScales.size(), scalesPerCase);
    EXPECT_EQ(0, std::memcmp(q.absmaxScales.data(),
                             absmax2.data<float>() + c * scalesPerCase,
                             4 * scalesPerCase))
        << "case " << c;
    float offset = offsets.data<float>()[c];
    EXPECT_EQ(0, std::memcmp(&q.absmaxOffset, &offset, 4))
        << "case " << c << ": offset " << q.absmaxOffset << " vs " << offset;
  }
}

} // namespace

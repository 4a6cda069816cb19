//===- ElementFormatsTest.cpp - element codecs, exhaustive and golden -----===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Numerics/ElementFormats.h"
#include "fp4/Support/Npy.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using namespace fp4;
using namespace fp4::numerics;

namespace {

uint32_t bitsOf(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}

//===----------------------------------------------------------------------===//
// Exhaustive: every code decodes and re-encodes to itself.
//===----------------------------------------------------------------------===//

TEST(ElementFormats, EveryFourBitCodeRoundTrips) {
  for (ElementFormat format : {ElementFormat::E2M1, ElementFormat::E1M2,
                               ElementFormat::E3M0, ElementFormat::NF4}) {
    for (unsigned code = 0; code < 16; ++code) {
      float value = decode(format, code);
      ASSERT_FALSE(std::isnan(value));
      // NF4 has one zero (index 7); the float formats have +0 and -0.
      EXPECT_EQ(encode(format, value), code)
          << name(format) << " code " << code << " value " << value;
    }
  }
}

TEST(ElementFormats, EveryEightBitCodeRoundTrips) {
  for (unsigned code = 0; code < 256; ++code) {
    float e4m3 = decodeE4M3(code);
    if ((code & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(e4m3)) << code;
      EXPECT_EQ(encodeE4M3(e4m3), code) << "NaN keeps its sign";
    } else {
      EXPECT_EQ(encodeE4M3(e4m3), code) << code;
      EXPECT_EQ(encodeE4M3(e4m3, Overflow::Saturate), code) << code;
    }
    float e5m2 = decodeE5M2(code);
    if ((code & 0x7F) > 0x7C) {
      EXPECT_TRUE(std::isnan(e5m2)) << code;
    } else {
      EXPECT_EQ(encodeE5M2(e5m2), code) << code;
    }
    float ue8m0 = decodeUE8M0(code);
    if (code == 0xFF)
      EXPECT_TRUE(std::isnan(ue8m0));
    else
      EXPECT_EQ(encodeUE8M0(ue8m0), code) << code;
  }
}

TEST(ElementFormats, E2M1Values) {
  const float expected[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (unsigned code = 0; code < 8; ++code) {
    EXPECT_EQ(decodeE2M1(code), expected[code]);
    EXPECT_EQ(decodeE2M1(code | 8), -expected[code]);
  }
  EXPECT_TRUE(std::signbit(decodeE2M1(8)));
}

/// Every midpoint between neighbouring codes rounds to the even code.
TEST(ElementFormats, TiesRoundToEven) {
  struct Case {
    ElementFormat format;
    unsigned numCodes;
  };
  for (Case c : {Case{ElementFormat::E2M1, 8}, Case{ElementFormat::E1M2, 8},
                 Case{ElementFormat::E3M0, 8}, Case{ElementFormat::E4M3, 127},
                 Case{ElementFormat::E5M2, 124}}) {
    for (unsigned code = 0; code + 1 < c.numCodes; ++code) {
      float lo = decode(c.format, code), hi = decode(c.format, code + 1);
      float mid = 0.5f * (lo + hi); // exact: both have few significant bits
      unsigned even = (code % 2 == 0) ? code : code + 1;
      EXPECT_EQ(encode(c.format, mid), even)
          << name(c.format) << " midpoint of codes " << code << " and "
          << code + 1 << " (" << mid << ")";
      EXPECT_EQ(encode(c.format, -mid), even | (bitWidth(c.format) == 4 ? 8u : 0x80u))
          << name(c.format) << " negative midpoint " << -mid;
      // Just off the midpoint, the nearer code wins.
      EXPECT_EQ(encode(c.format, std::nextafter(mid, hi)), code + 1);
      EXPECT_EQ(encode(c.format, std::nextafter(mid, lo)), code);
    }
  }
}

TEST(ElementFormats, SaturationAndSpecials) {
  EXPECT_EQ(encodeE2M1(7.0f), 7);
  EXPECT_EQ(encodeE2M1(-INFINITY), 15);
  EXPECT_EQ(encodeE4M3(464.0f), 0x7E);           // tie rounds to 448
  EXPECT_EQ(encodeE4M3(464.5f), 0x7F);           // overflow is NaN
  EXPECT_EQ(encodeE4M3(1e9f, Overflow::Saturate), 0x7E);
  EXPECT_EQ(encodeE4M3(-INFINITY, Overflow::Saturate), 0xFE);
  EXPECT_EQ(encodeE5M2(61440.0f), 0x7C);         // overflow is Inf
  EXPECT_EQ(encodeE5M2(61440.0f, Overflow::Saturate), 0x7B);
  EXPECT_EQ(encodeE1M2(9.0f), 7);
  EXPECT_EQ(encodeE3M0(100.0f), 7);
  EXPECT_EQ(decodeE3M0(7), 16.0f);
  EXPECT_EQ(decodeE3M0(1), 0.25f);
  EXPECT_EQ(decodeE1M2(7), 1.75f);
  EXPECT_EQ(encodeUE4M3(448.0f), 0x7E);
  EXPECT_EQ(encodeUE4M3(1000.0f), 0x7E);
  EXPECT_EQ(decodeUE8M0(127), 1.0f);
  EXPECT_EQ(encodeUE8M0(0.0f), 0xFF);
  EXPECT_EQ(encodeNF4(1.0f), 15);
  EXPECT_EQ(encodeNF4(-1.0f), 0);
  EXPECT_EQ(encodeNF4(0.0f), 7);
}

TEST(ElementFormats, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(floatToBF16(1.0f), 0x3F80);
  // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-8f), 0x3F80);
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-7f + 0x1p-8f), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBF16(NAN))));
  EXPECT_EQ(halfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(halfToFloat(0x0001), 0x1p-24f);
}

//===----------------------------------------------------------------------===//
// Golden vectors from ml_dtypes (test/Numerics/golden/generate_elements.py).
//===----------------------------------------------------------------------===//

class ElementGoldens : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(readNpy(std::string(FP4_GOLDEN_DIR) + "/elements_inputs.npy",
                        inputs, error))
        << error;
    ASSERT_EQ(inputs.dtype, DType::F32);
  }

  void compare(const char *format, uint8_t (*encoder)(float)) {
    NdArray expected;
    std::string error;
    ASSERT_TRUE(readNpy(std::string(FP4_GOLDEN_DIR) + "/elements_" + format +
                            ".npy",
                        expected, error))
        << error;
    ASSERT_EQ(expected.numElements(), inputs.numElements());
    int mismatches = 0;
    for (int64_t i = 0; i < inputs.numElements(); ++i) {
      float x = inputs.data<float>()[i];
      uint8_t want = expected.data<uint8_t>()[i], got = encoder(x);
      if (want != got && ++mismatches <= 10)
        ADD_FAILURE() << format << ": input " << x << " (0x" << std::hex
                      << bitsOf(x) << ") expected 0x" << unsigned(want)
                      << " got 0x" << unsigned(got) << std::dec;
    }
    EXPECT_EQ(mismatches, 0) << format;
  }

  NdArray inputs;
};

TEST_F(ElementGoldens, E2M1MatchesMlDtypes) { compare("e2m1", encodeE2M1); }
TEST_F(ElementGoldens, E4M3MatchesMlDtypes) {
  compare("e4m3", [](float x) { return encodeE4M3(x); });
}
TEST_F(ElementGoldens, E5M2MatchesMlDtypes) {
  compare("e5m2", [](float x) { return encodeE5M2(x); });
}
TEST_F(ElementGoldens, UE8M0MatchesMlDtypes) { compare("ue8m0", encodeUE8M0); }

} // namespace

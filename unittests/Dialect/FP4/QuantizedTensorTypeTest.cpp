//===- QuantizedTensorTypeTest.cpp - storage form and presets -------------===//
//
// Part of fp4-mlir.
//
//===----------------------------------------------------------------------===//

#include "fp4/Dialect/FP4/IR/FP4Dialect.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::fp4;

namespace {

class QuantizedTensorTypeTest : public ::testing::Test {
protected:
  QuantizedTensorTypeTest() { context.loadDialect<FP4Dialect>(); }

  QuantizedTensorType parse(StringRef text) {
    return dyn_cast_or_null<QuantizedTensorType>(parseType(text, &context));
  }

  std::string str(Type type) {
    std::string text;
    llvm::raw_string_ostream os(text);
    type.print(os);
    return text;
  }

  MLIRContext context;
};

TEST_F(QuantizedTensorTypeTest, NVFP4StorageForm) {
  QuantizedTensorType type = parse("!fp4.qtensor<128x256xf4E2M1FN, nvfp4>");
  ASSERT_TRUE(type);
  EXPECT_EQ(type.getElementBitWidth(), 4u);
  EXPECT_EQ(str(type.getDataType()), "tensor<128x128xi8>");
  EXPECT_EQ(str(type.getScalesType()), "tensor<128x16xf8E4M3FN>");
  EXPECT_EQ(str(type.getGlobalScaleType()), "tensor<f32>");
  EXPECT_EQ(type.getStorageTypes().size(), 3u);
  ScalingAttr scaling = type.getScaling();
  EXPECT_TRUE(scaling.isPerBlock());
  EXPECT_TRUE(scaling.isTwoLevel());
  EXPECT_EQ(scaling.getAxis(), 1);
  EXPECT_EQ(scaling.getBlockSize(), 16);
}

TEST_F(QuantizedTensorTypeTest, ExpertBatchedMXFP4StorageForm) {
  QuantizedTensorType type = parse("!fp4.qtensor<8x512x256xf4E2M1FN, mxfp4>");
  ASSERT_TRUE(type);
  EXPECT_EQ(str(type.getDataType()), "tensor<8x512x128xi8>");
  EXPECT_EQ(str(type.getScalesType()), "tensor<8x512x8xf8E8M0FNU>");
  EXPECT_FALSE(type.getGlobalScaleType());
  EXPECT_EQ(type.getStorageTypes().size(), 2u);
}

TEST_F(QuantizedTensorTypeTest, FP8StorageForms) {
  QuantizedTensorType perTensor = parse("!fp4.qtensor<64x32xf8E4M3FN, fp8>");
  ASSERT_TRUE(perTensor);
  EXPECT_EQ(perTensor.getElementBitWidth(), 8u);
  EXPECT_EQ(str(perTensor.getDataType()), "tensor<64x32xi8>");
  EXPECT_EQ(str(perTensor.getScalesType()), "tensor<f32>");

  QuantizedTensorType perChannel =
      parse("!fp4.qtensor<4x64x32xf8E5M2, fp8_per_channel>");
  ASSERT_TRUE(perChannel);
  EXPECT_EQ(perChannel.getScaling().getAxis(), 1);
  EXPECT_EQ(str(perChannel.getScalesType()), "tensor<64xf32>");
}

TEST_F(QuantizedTensorTypeTest, SwizzledScalesArePaddedToTiles) {
  QuantizedTensorType type = parse(
      "!fp4.qtensor<200x32xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, "
      "scale = ue4m3, global = f32, layout = swizzled>>");
  ASSERT_TRUE(type);
  // 200 rows -> 256, 2 scale columns -> 4.
  EXPECT_EQ(str(type.getScalesType()), "tensor<256x4xf8E4M3FN>");
  EXPECT_FALSE(type.getPresetName());

  QuantizedTensorType experts = parse(
      "!fp4.qtensor<4x128x256xf4E2M1FN, #fp4.scaling<block, axis = 2, "
      "size = 32, scale = ue8m0, layout = swizzled>>");
  ASSERT_TRUE(experts);
  EXPECT_EQ(str(experts.getScalesType()), "tensor<4x128x8xf8E8M0FNU>");
}

TEST_F(QuantizedTensorTypeTest, DynamicLeadingDimension) {
  QuantizedTensorType type = parse("!fp4.qtensor<?x64xf4E2M1FN, nvfp4>");
  ASSERT_TRUE(type);
  EXPECT_FALSE(type.hasStaticShape());
  EXPECT_EQ(str(type.getDataType()), "tensor<?x32xi8>");
  EXPECT_EQ(str(type.getScalesType()), "tensor<?x4xf8E4M3FN>");
}

TEST_F(QuantizedTensorTypeTest, PresetIsDetectedFromTheFullForm) {
  QuantizedTensorType full =
      parse("!fp4.qtensor<16x64xf4E2M1FN, #fp4.scaling<block, axis = 1, "
            "size = 16, scale = ue4m3, global = f32>>");
  ASSERT_TRUE(full);
  EXPECT_EQ(full, parse("!fp4.qtensor<16x64xf4E2M1FN, nvfp4>"));
  EXPECT_EQ(full.getPresetName(), std::optional<StringRef>("nvfp4"));
  EXPECT_EQ(str(full), "!fp4.qtensor<16x64xf4E2M1FN, nvfp4>");

  // Blocks of 16 along the first axis are no preset.
  QuantizedTensorType other =
      parse("!fp4.qtensor<16x64xf4E2M1FN, #fp4.scaling<block, axis = 0, "
            "size = 16, scale = ue4m3, global = f32>>");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other.getPresetName());
}

TEST_F(QuantizedTensorTypeTest, GetCheckedReportsInvalidBlocking) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  auto scaling = ScalingAttr::getPerBlock(&context, 1, 16, ScaleFormat::UE4M3,
                                          ScaleFormat::F32);
  auto type = QuantizedTensorType::getChecked(
      [&] { return emitError(UnknownLoc::get(&context)); }, &context,
      ArrayRef<int64_t>{4, 40}, Type(Float4E2M1FNType::get(&context)), scaling);
  EXPECT_FALSE(type);
  EXPECT_EQ(message, "expects block size 16 to divide dimension 1 (40)");
}

TEST_F(QuantizedTensorTypeTest, ScaleStorageTypes) {
  EXPECT_EQ(str(QuantizedTensorType::getScaleStorageType(&context,
                                                         ScaleFormat::F32)),
            "f32");
  EXPECT_EQ(str(QuantizedTensorType::getScaleStorageType(&context,
                                                         ScaleFormat::BF16)),
            "bf16");
  EXPECT_EQ(str(QuantizedTensorType::getScaleStorageType(&context,
                                                         ScaleFormat::UE4M3)),
            "f8E4M3FN");
  EXPECT_EQ(str(QuantizedTensorType::getScaleStorageType(&context,
                                                         ScaleFormat::UE8M0)),
            "f8E8M0FNU");
}

} // namespace

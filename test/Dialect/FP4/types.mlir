// Round trip of every fp4 type and attribute, in custom and generic form.
// RUN: fp4-opt %s | fp4-opt | FileCheck %s
// RUN: fp4-opt %s --mlir-print-op-generic | fp4-opt | FileCheck %s

// Presets print as their names.
// CHECK-LABEL: func.func private @presets(
// CHECK-SAME: !fp4.qtensor<128x256xf4E2M1FN, nvfp4>
// CHECK-SAME: !fp4.qtensor<128x256xf4E2M1FN, mxfp4>
// CHECK-SAME: !fp4.qtensor<128x256xf8E4M3FN, mxfp8>
// CHECK-SAME: !fp4.qtensor<128x256xf8E5M2, mxfp8>
// CHECK-SAME: !fp4.qtensor<128x256xf8E4M3FN, fp8>
// CHECK-SAME: !fp4.qtensor<128x256xf8E5M2, fp8_per_channel>
// CHECK-SAME: !fp4.qtensor<128x256x!fp4.nf4, nf4>
// CHECK-SAME: !fp4.qtensor<4x128x256xf8E4M3FN, fp8_per_row>
func.func private @presets(
    !fp4.qtensor<128x256xf4E2M1FN, nvfp4>,
    !fp4.qtensor<128x256xf4E2M1FN, mxfp4>,
    !fp4.qtensor<128x256xf8E4M3FN, mxfp8>,
    !fp4.qtensor<128x256xf8E5M2, mxfp8>,
    !fp4.qtensor<128x256xf8E4M3FN, fp8>,
    !fp4.qtensor<128x256xf8E5M2, fp8_per_channel>,
    !fp4.qtensor<128x256x!fp4.nf4, nf4>,
    !fp4.qtensor<4x128x256xf8E4M3FN, #fp4.scaling<block, axis = 2, size = 256, scale = f32>>)

// The full form of a preset prints as the preset.
// CHECK-LABEL: func.func private @full_forms_of_presets(
// CHECK-SAME: !fp4.qtensor<16x64xf4E2M1FN, nvfp4>
// CHECK-SAME: !fp4.qtensor<16x64xf4E2M1FN, mxfp4>
// CHECK-SAME: !fp4.qtensor<8x16x64xf8E4M3FN, fp8_per_channel>
// CHECK-SAME: !fp4.qtensor<2x128x!fp4.nf4, nf4>
func.func private @full_forms_of_presets(
    !fp4.qtensor<16x64xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32>>,
    !fp4.qtensor<16x64xf4E2M1FN, #fp4.scaling<block, size = 32, axis = 1, scale = ue8m0>>,
    !fp4.qtensor<8x16x64xf8E4M3FN, #fp4.scaling<channel, axis = 1, scale = f32>>,
    !fp4.qtensor<2x128x!fp4.nf4, #fp4.scaling<block, axis = 1, size = 64, scale = f32>>)

// Schemes that are no preset keep the full form.
// CHECK-LABEL: func.func private @other_schemes(
// CHECK-SAME: !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<block, axis = 0, size = 16, scale = ue4m3, global = f32>>
// CHECK-SAME: !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3>>
// CHECK-SAME: !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<tensor, scale = f32>>
// CHECK-SAME: !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<channel, axis = 0, scale = bf16>>
// CHECK-SAME: !fp4.qtensor<64x32xf8E4M3FN, #fp4.scaling<channel, axis = 1, scale = f32>>
// CHECK-SAME: !fp4.qtensor<64x32xf8E5M2, #fp4.scaling<block, axis = 1, size = 16, scale = bf16>>
// CHECK-SAME: !fp4.qtensor<64x32x!fp4.nf4, #fp4.scaling<block, axis = 1, size = 32, scale = f32>>
// CHECK-SAME: !fp4.qtensor<64x32x!fp4.e1m2, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>>
// CHECK-SAME: !fp4.qtensor<64x32x!fp4.e3m0, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3>>
// CHECK-SAME: !fp4.qtensor<64xf8E4M3FN, #fp4.scaling<channel, axis = 0, scale = f32>>
func.func private @other_schemes(
    !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<block, axis = 0, size = 16, scale = ue4m3, global = f32>>,
    !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3>>,
    !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<tensor, scale = f32>>,
    !fp4.qtensor<64x32xf4E2M1FN, #fp4.scaling<channel, axis = 0, scale = bf16>>,
    !fp4.qtensor<64x32xf8E4M3FN, #fp4.scaling<channel, axis = 1, scale = f32>>,
    !fp4.qtensor<64x32xf8E5M2, #fp4.scaling<block, axis = 1, size = 16, scale = bf16>>,
    !fp4.qtensor<64x32x!fp4.nf4, #fp4.scaling<block, axis = 1, size = 32, scale = f32>>,
    !fp4.qtensor<64x32x!fp4.e1m2, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0>>,
    !fp4.qtensor<64x32x!fp4.e3m0, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3>>,
    !fp4.qtensor<64xf8E4M3FN, #fp4.scaling<channel, axis = 0, scale = f32>>)

// Block scales in the Blackwell tensor-core layout.
// CHECK-LABEL: func.func private @swizzled(
// CHECK-SAME: !fp4.qtensor<200x64xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32, layout = swizzled>>
// CHECK-SAME: !fp4.qtensor<8x64x64xf8E4M3FN, #fp4.scaling<block, axis = 2, size = 32, scale = ue8m0, layout = swizzled>>
// CHECK-SAME: !fp4.qtensor<16x64xf4E2M1FN, mxfp4>
func.func private @swizzled(
    !fp4.qtensor<200x64xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32, layout = swizzled>>,
    !fp4.qtensor<8x64x64xf8E4M3FN, #fp4.scaling<block, axis = 2, size = 32, scale = ue8m0, layout = swizzled>>,
    !fp4.qtensor<16x64xf4E2M1FN, #fp4.scaling<block, axis = 1, size = 32, scale = ue8m0, layout = linear>>)

// Dynamic dimensions off the blocked and packed axes.
// CHECK-LABEL: func.func private @dynamic(
// CHECK-SAME: !fp4.qtensor<?x64xf4E2M1FN, nvfp4>
// CHECK-SAME: !fp4.qtensor<?x?x64xf8E4M3FN, fp8>
func.func private @dynamic(!fp4.qtensor<?x64xf4E2M1FN, nvfp4>,
                           !fp4.qtensor<?x?x64xf8E4M3FN, fp8>)

// Standalone scaling attributes and the rule attribute.
// CHECK-LABEL: func.func private @attributes()
// CHECK-SAME: fp4.block = #fp4.scaling<block, axis = 2, size = 32, scale = ue8m0>
// CHECK-SAME: fp4.channel = #fp4.scaling<channel, axis = 0, scale = bf16>
// CHECK-SAME: fp4.rule = #fp4.rule<compressed_tensors>
// CHECK-SAME: fp4.tensor = #fp4.scaling<tensor, scale = f32>
// CHECK-SAME: fp4.two_level = #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32>
func.func private @attributes() attributes {
  fp4.tensor = #fp4.scaling<tensor, scale = f32>,
  fp4.channel = #fp4.scaling<channel, axis = 0, scale = bf16>,
  fp4.block = #fp4.scaling<block, axis = 2, size = 32, scale = ue8m0>,
  fp4.two_level = #fp4.scaling<block, axis = 1, size = 16, scale = ue4m3, global = f32>,
  fp4.rule = #fp4.rule<compressed_tensors>
}

// The element types stand alone too.
// CHECK-LABEL: func.func private @elements(!fp4.nf4, !fp4.e1m2, !fp4.e3m0)
func.func private @elements(!fp4.nf4, !fp4.e1m2, !fp4.e3m0)

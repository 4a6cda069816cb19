// W4A8: MXFP8 activations (E4M3 or E5M2, UE8M0 scales per 32) against
// MXFP4 weights: kind::mxf8f6f4 on sm_120a (two m16n8k32 per K step of 64),
// its CUDA-core twin on sm_90a. Ragged M and N, both FP8 formats, a bf16
// result, stacked experts with a bias. Written by hand.
func.func @e4m3_17x9x64(%ad: tensor<17x64xi8>, %as: tensor<17x2xf8E8M0FNU>, %bd: tensor<9x32xi8>, %bs: tensor<9x2xf8E8M0FNU>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as : tensor<17x64xi8>, tensor<17x2xf8E8M0FNU> -> !fp4.qtensor<17x64xf8E4M3FN, mxfp8>
  %b = fp4.assemble %bd, %bs : tensor<9x32xi8>, tensor<9x2xf8E8M0FNU> -> !fp4.qtensor<9x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x64xf8E4M3FN, mxfp8>, !fp4.qtensor<9x64xf4E2M1FN, mxfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}
func.func @e5m2_32x24x192_bf16(%ad: tensor<32x192xi8>, %as: tensor<32x6xf8E8M0FNU>, %bd: tensor<24x96xi8>, %bs: tensor<24x6xf8E8M0FNU>) -> tensor<32x24xbf16> {
  %a = fp4.assemble %ad, %as : tensor<32x192xi8>, tensor<32x6xf8E8M0FNU> -> !fp4.qtensor<32x192xf8E5M2, mxfp8>
  %b = fp4.assemble %bd, %bs : tensor<24x96xi8>, tensor<24x6xf8E8M0FNU> -> !fp4.qtensor<24x192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<32x192xf8E5M2, mxfp8>, !fp4.qtensor<24x192xf4E2M1FN, mxfp4> -> tensor<32x24xbf16>
  return %y : tensor<32x24xbf16>
}
func.func @e4m3_experts_bias(%ad: tensor<2x20x128xi8>, %as: tensor<2x20x4xf8E8M0FNU>, %bd: tensor<2x12x64xi8>, %bs: tensor<2x12x4xf8E8M0FNU>, %bias: tensor<2x12xf32>) -> tensor<2x20x12xf32> {
  %a = fp4.assemble %ad, %as : tensor<2x20x128xi8>, tensor<2x20x4xf8E8M0FNU> -> !fp4.qtensor<2x20x128xf8E4M3FN, mxfp8>
  %b = fp4.assemble %bd, %bs : tensor<2x12x64xi8>, tensor<2x12x4xf8E8M0FNU> -> !fp4.qtensor<2x12x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<2x12xf32>) : !fp4.qtensor<2x20x128xf8E4M3FN, mxfp8>, !fp4.qtensor<2x12x128xf4E2M1FN, mxfp4> -> tensor<2x20x12xf32>
  return %y : tensor<2x20x12xf32>
}

// The shapes of the ptxas acceptance matrix (ptxas-matrix.test): NVFP4 and
// MXFP4 W4A4, tiles exact and ragged in M and N, a decode-shaped row.
// Written by hand from this table: (M, N, K) = 16x8x64, 32x24x128, 17x9x64, 100x30x192, 1x4096x4096.
func.func @nvfp4_16x8x64(%ad: tensor<16x32xi8>, %as: tensor<16x4xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<8x32xi8>, %bs: tensor<8x4xf8E4M3FN>, %bg: tensor<f32>) -> tensor<16x8xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<16x32xi8>, tensor<16x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<16x64xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<8x32xi8>, tensor<8x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<8x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf4E2M1FN, nvfp4>, !fp4.qtensor<8x64xf4E2M1FN, nvfp4> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}
func.func @nvfp4_32x24x128(%ad: tensor<32x64xi8>, %as: tensor<32x8xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<24x64xi8>, %bs: tensor<24x8xf8E4M3FN>, %bg: tensor<f32>) -> tensor<32x24xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<32x64xi8>, tensor<32x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<32x128xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<24x64xi8>, tensor<24x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<24x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<32x128xf4E2M1FN, nvfp4>, !fp4.qtensor<24x128xf4E2M1FN, nvfp4> -> tensor<32x24xf32>
  return %y : tensor<32x24xf32>
}
func.func @nvfp4_17x9x64(%ad: tensor<17x32xi8>, %as: tensor<17x4xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<9x32xi8>, %bs: tensor<9x4xf8E4M3FN>, %bg: tensor<f32>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<17x32xi8>, tensor<17x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<17x64xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<9x32xi8>, tensor<9x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<9x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x64xf4E2M1FN, nvfp4>, !fp4.qtensor<9x64xf4E2M1FN, nvfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}
func.func @nvfp4_100x30x192(%ad: tensor<100x96xi8>, %as: tensor<100x12xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<30x96xi8>, %bs: tensor<30x12xf8E4M3FN>, %bg: tensor<f32>) -> tensor<100x30xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<100x96xi8>, tensor<100x12xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<100x192xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<30x96xi8>, tensor<30x12xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<30x192xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<100x192xf4E2M1FN, nvfp4>, !fp4.qtensor<30x192xf4E2M1FN, nvfp4> -> tensor<100x30xf32>
  return %y : tensor<100x30xf32>
}
func.func @nvfp4_1x4096x4096(%ad: tensor<1x2048xi8>, %as: tensor<1x256xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x256xf8E4M3FN>, %bg: tensor<f32>) -> tensor<1x4096xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<1x2048xi8>, tensor<1x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<1x4096xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, nvfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}
func.func @mxfp4_16x8x64(%ad: tensor<16x32xi8>, %as: tensor<16x2xf8E8M0FNU>, %bd: tensor<8x32xi8>, %bs: tensor<8x2xf8E8M0FNU>) -> tensor<16x8xf32> {
  %a = fp4.assemble %ad, %as : tensor<16x32xi8>, tensor<16x2xf8E8M0FNU> -> !fp4.qtensor<16x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8x32xi8>, tensor<8x2xf8E8M0FNU> -> !fp4.qtensor<8x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<16x64xf4E2M1FN, mxfp4>, !fp4.qtensor<8x64xf4E2M1FN, mxfp4> -> tensor<16x8xf32>
  return %y : tensor<16x8xf32>
}
func.func @mxfp4_32x24x128(%ad: tensor<32x64xi8>, %as: tensor<32x4xf8E8M0FNU>, %bd: tensor<24x64xi8>, %bs: tensor<24x4xf8E8M0FNU>) -> tensor<32x24xf32> {
  %a = fp4.assemble %ad, %as : tensor<32x64xi8>, tensor<32x4xf8E8M0FNU> -> !fp4.qtensor<32x128xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<24x64xi8>, tensor<24x4xf8E8M0FNU> -> !fp4.qtensor<24x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<32x128xf4E2M1FN, mxfp4>, !fp4.qtensor<24x128xf4E2M1FN, mxfp4> -> tensor<32x24xf32>
  return %y : tensor<32x24xf32>
}
func.func @mxfp4_17x9x64(%ad: tensor<17x32xi8>, %as: tensor<17x2xf8E8M0FNU>, %bd: tensor<9x32xi8>, %bs: tensor<9x2xf8E8M0FNU>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as : tensor<17x32xi8>, tensor<17x2xf8E8M0FNU> -> !fp4.qtensor<17x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<9x32xi8>, tensor<9x2xf8E8M0FNU> -> !fp4.qtensor<9x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x64xf4E2M1FN, mxfp4>, !fp4.qtensor<9x64xf4E2M1FN, mxfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}
func.func @mxfp4_100x30x192(%ad: tensor<100x96xi8>, %as: tensor<100x6xf8E8M0FNU>, %bd: tensor<30x96xi8>, %bs: tensor<30x6xf8E8M0FNU>) -> tensor<100x30xf32> {
  %a = fp4.assemble %ad, %as : tensor<100x96xi8>, tensor<100x6xf8E8M0FNU> -> !fp4.qtensor<100x192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<30x96xi8>, tensor<30x6xf8E8M0FNU> -> !fp4.qtensor<30x192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<100x192xf4E2M1FN, mxfp4>, !fp4.qtensor<30x192xf4E2M1FN, mxfp4> -> tensor<100x30xf32>
  return %y : tensor<100x30xf32>
}
func.func @mxfp4_1x4096x4096(%ad: tensor<1x2048xi8>, %as: tensor<1x128xf8E8M0FNU>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x128xf8E8M0FNU>) -> tensor<1x4096xf32> {
  %a = fp4.assemble %ad, %as : tensor<1x2048xi8>, tensor<1x128xf8E8M0FNU> -> !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<4096x2048xi8>, tensor<4096x128xf8E8M0FNU> -> !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x4096xf4E2M1FN, mxfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, mxfp4> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}
// Batched (stacked experts, grid z = E) and a shared weight (E * M rows).
func.func @nvfp4_experts(%ad: tensor<4x17x64xi8>, %as: tensor<4x17x8xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4x24x64xi8>, %bs: tensor<4x24x8xf8E4M3FN>, %bg: tensor<f32>) -> tensor<4x17x24xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<4x17x64xi8>, tensor<4x17x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4x17x128xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4x24x64xi8>, tensor<4x24x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4x24x128xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<4x17x128xf4E2M1FN, nvfp4>, !fp4.qtensor<4x24x128xf4E2M1FN, nvfp4> -> tensor<4x17x24xf32>
  return %y : tensor<4x17x24xf32>
}
func.func @mxfp4_experts(%ad: tensor<3x16x32xi8>, %as: tensor<3x16x2xf8E8M0FNU>, %bd: tensor<3x8x32xi8>, %bs: tensor<3x8x2xf8E8M0FNU>) -> tensor<3x16x8xf32> {
  %a = fp4.assemble %ad, %as : tensor<3x16x32xi8>, tensor<3x16x2xf8E8M0FNU> -> !fp4.qtensor<3x16x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<3x8x32xi8>, tensor<3x8x2xf8E8M0FNU> -> !fp4.qtensor<3x8x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<3x16x64xf4E2M1FN, mxfp4>, !fp4.qtensor<3x8x64xf4E2M1FN, mxfp4> -> tensor<3x16x8xf32>
  return %y : tensor<3x16x8xf32>
}
func.func @nvfp4_shared_weight(%ad: tensor<2x9x32xi8>, %as: tensor<2x9x4xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<16x32xi8>, %bs: tensor<16x4xf8E4M3FN>, %bg: tensor<f32>) -> tensor<2x9x16xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<2x9x32xi8>, tensor<2x9x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<2x9x64xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<16x32xi8>, tensor<16x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<16x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<2x9x64xf4E2M1FN, nvfp4>, !fp4.qtensor<16x64xf4E2M1FN, nvfp4> -> tensor<2x9x16xf32>
  return %y : tensor<2x9x16xf32>
}
// bf16 results (the epilogue rounds once), ragged in M and N.
func.func @nvfp4_17x9x64_bf16(%ad: tensor<17x32xi8>, %as: tensor<17x4xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<9x32xi8>, %bs: tensor<9x4xf8E4M3FN>, %bg: tensor<f32>) -> tensor<17x9xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<17x32xi8>, tensor<17x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<17x64xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<9x32xi8>, tensor<9x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<9x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<17x64xf4E2M1FN, nvfp4>, !fp4.qtensor<9x64xf4E2M1FN, nvfp4> -> tensor<17x9xbf16>
  return %y : tensor<17x9xbf16>
}
func.func @mxfp4_100x30x192_bf16(%ad: tensor<100x96xi8>, %as: tensor<100x6xf8E8M0FNU>, %bd: tensor<30x96xi8>, %bs: tensor<30x6xf8E8M0FNU>) -> tensor<100x30xbf16> {
  %a = fp4.assemble %ad, %as : tensor<100x96xi8>, tensor<100x6xf8E8M0FNU> -> !fp4.qtensor<100x192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<30x96xi8>, tensor<30x6xf8E8M0FNU> -> !fp4.qtensor<30x192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<100x192xf4E2M1FN, mxfp4>, !fp4.qtensor<30x192xf4E2M1FN, mxfp4> -> tensor<100x30xbf16>
  return %y : tensor<100x30xbf16>
}
// A bias in the epilogue (added before the one rounding): [N] with ragged
// M and N, and one bias per expert ([E, N]) with bf16 results.
func.func @nvfp4_17x9x64_bias(%ad: tensor<17x32xi8>, %as: tensor<17x4xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<9x32xi8>, %bs: tensor<9x4xf8E4M3FN>, %bg: tensor<f32>, %bias: tensor<9xf32>) -> tensor<17x9xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<17x32xi8>, tensor<17x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<17x64xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<9x32xi8>, tensor<9x4xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<9x64xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<9xf32>) : !fp4.qtensor<17x64xf4E2M1FN, nvfp4>, !fp4.qtensor<9x64xf4E2M1FN, nvfp4> -> tensor<17x9xf32>
  return %y : tensor<17x9xf32>
}
func.func @mxfp4_experts_bias_bf16(%ad: tensor<3x16x32xi8>, %as: tensor<3x16x2xf8E8M0FNU>, %bd: tensor<3x8x32xi8>, %bs: tensor<3x8x2xf8E8M0FNU>, %bias: tensor<3x8xbf16>) -> tensor<3x16x8xbf16> {
  %a = fp4.assemble %ad, %as : tensor<3x16x32xi8>, tensor<3x16x2xf8E8M0FNU> -> !fp4.qtensor<3x16x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<3x8x32xi8>, tensor<3x8x2xf8E8M0FNU> -> !fp4.qtensor<3x8x64xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<3x8xbf16>) : !fp4.qtensor<3x16x64xf4E2M1FN, mxfp4>, !fp4.qtensor<3x8x64xf4E2M1FN, mxfp4> -> tensor<3x16x8xbf16>
  return %y : tensor<3x16x8xbf16>
}
// Gathered experts (fp4.gathered_matmul): each row against the expert its
// index names (an index outside [0, E) gives a NaN row).
func.func @nvfp4_gathered(%ad: tensor<6x64xi8>, %as: tensor<6x8xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4x24x64xi8>, %bs: tensor<4x24x8xf8E4M3FN>, %bg: tensor<f32>, %ids: tensor<6xi32>) -> tensor<6x24xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<6x64xi8>, tensor<6x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<6x128xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4x24x64xi8>, tensor<4x24x8xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4x24x128xf4E2M1FN, nvfp4>
  %y = fp4.gathered_matmul %a, %b[%ids] : !fp4.qtensor<6x128xf4E2M1FN, nvfp4>, !fp4.qtensor<4x24x128xf4E2M1FN, nvfp4>, tensor<6xi32> -> tensor<6x24xf32>
  return %y : tensor<6x24xf32>
}
func.func @mxfp4_gathered_bias_bf16(%ad: tensor<3x32xi8>, %as: tensor<3x2xf8E8M0FNU>, %bd: tensor<2x9x32xi8>, %bs: tensor<2x9x2xf8E8M0FNU>, %ids: tensor<3xi64>, %bias: tensor<2x9xf32>) -> tensor<3x9xbf16> {
  %a = fp4.assemble %ad, %as : tensor<3x32xi8>, tensor<3x2xf8E8M0FNU> -> !fp4.qtensor<3x64xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<2x9x32xi8>, tensor<2x9x2xf8E8M0FNU> -> !fp4.qtensor<2x9x64xf4E2M1FN, mxfp4>
  %y = fp4.gathered_matmul %a, %b[%ids] bias(%bias : tensor<2x9xf32>) : !fp4.qtensor<3x64xf4E2M1FN, mxfp4>, !fp4.qtensor<2x9x64xf4E2M1FN, mxfp4>, tensor<3xi64> -> tensor<3x9xbf16>
  return %y : tensor<3x9xbf16>
}

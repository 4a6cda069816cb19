// W4A4 with few activation rows on sm_90a. Up to 8 rows, where the
// expansion fits in its shared memory, the GEMV kernel takes the FP4
// activations itself (w4a4mv: 1 x 8192 x 8192 MXFP4; NVFP4 5 rows with a
// ragged N and a bias; stacked MXFP4 operands with bf16 results; NVFP4
// 2 x 40 x 320, whose K ends inside a step; MXFP4 3 x 100 x 128, one warp
// per K (S = 1) and 48 words for a warp's 32 lanes). Otherwise as W4A16 on bf16
// rows (Bf16RowsKernel.cpp), the W4A16 kernel a programmatic dependent of
// the rows kernel: the GEMV kernel for 8 x 256 x 8192 MXFP4 (too large to
// expand in shared memory); with more rows, the prefill kernels that keep
// the weights in registers (NVFP4 128 x 4096 x 4096 and MXFP4 200 x 2048 x
// 1024 with row scales, its last tile ragged).
// test/GPU/sm90a-kernels.test runs them on the H100 against float64
// (Inputs/matrix.mlir has more: gathered experts, 16 rows).

func.func @x16_1x8192x8192(%ad: tensor<1x4096xi8>, %as: tensor<1x256xf8E8M0FNU>, %bd: tensor<8192x4096xi8>, %bs: tensor<8192x256xf8E8M0FNU>) -> tensor<1x8192xf32> {
  %a = fp4.assemble %ad, %as : tensor<1x4096xi8>, tensor<1x256xf8E8M0FNU> -> !fp4.qtensor<1x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<8192x4096xi8>, tensor<8192x256xf8E8M0FNU> -> !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<1x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<8192x8192xf4E2M1FN, mxfp4> -> tensor<1x8192xf32>
  return %y : tensor<1x8192xf32>
}
func.func @x16_5x300x1024_bias(%ad: tensor<5x512xi8>, %as: tensor<5x64xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<300x512xi8>, %bs: tensor<300x64xf8E4M3FN>, %bg: tensor<f32>, %bias: tensor<300xf32>) -> tensor<5x300xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<5x512xi8>, tensor<5x64xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<5x1024xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<300x512xi8>, tensor<300x64xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<300x1024xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b bias(%bias : tensor<300xf32>) : !fp4.qtensor<5x1024xf4E2M1FN, nvfp4>, !fp4.qtensor<300x1024xf4E2M1FN, nvfp4> -> tensor<5x300xf32>
  return %y : tensor<5x300xf32>
}
func.func @x16_experts_bf16(%ad: tensor<2x3x256xi8>, %as: tensor<2x3x16xf8E8M0FNU>, %bd: tensor<2x256x256xi8>, %bs: tensor<2x256x16xf8E8M0FNU>) -> tensor<2x3x256xbf16> {
  %a = fp4.assemble %ad, %as : tensor<2x3x256xi8>, tensor<2x3x16xf8E8M0FNU> -> !fp4.qtensor<2x3x512xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<2x256x256xi8>, tensor<2x256x16xf8E8M0FNU> -> !fp4.qtensor<2x256x512xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<2x3x512xf4E2M1FN, mxfp4>, !fp4.qtensor<2x256x512xf4E2M1FN, mxfp4> -> tensor<2x3x256xbf16>
  return %y : tensor<2x3x256xbf16>
}
func.func @x16_128x4096x4096(%ad: tensor<128x2048xi8>, %as: tensor<128x256xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<4096x2048xi8>, %bs: tensor<4096x256xf8E4M3FN>, %bg: tensor<f32>) -> tensor<128x4096xbf16> {
  %a = fp4.assemble %ad, %as, %ag : tensor<128x2048xi8>, tensor<128x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<128x4096xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<4096x2048xi8>, tensor<4096x256xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<128x4096xf4E2M1FN, nvfp4>, !fp4.qtensor<4096x4096xf4E2M1FN, nvfp4> -> tensor<128x4096xbf16>
  return %y : tensor<128x4096xbf16>
}
func.func @x16_200x1024x2048(%ad: tensor<200x1024xi8>, %as: tensor<200x64xf8E8M0FNU>, %bd: tensor<1024x1024xi8>, %bs: tensor<1024x64xf8E8M0FNU>) -> tensor<200x1024xf32> {
  %a = fp4.assemble %ad, %as : tensor<200x1024xi8>, tensor<200x64xf8E8M0FNU> -> !fp4.qtensor<200x2048xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<1024x1024xi8>, tensor<1024x64xf8E8M0FNU> -> !fp4.qtensor<1024x2048xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<200x2048xf4E2M1FN, mxfp4>, !fp4.qtensor<1024x2048xf4E2M1FN, mxfp4> -> tensor<200x1024xf32>
  return %y : tensor<200x1024xf32>
}

func.func @packed_2x40x320(%ad: tensor<2x160xi8>, %as: tensor<2x20xf8E4M3FN>, %ag: tensor<f32>, %bd: tensor<40x160xi8>, %bs: tensor<40x20xf8E4M3FN>, %bg: tensor<f32>) -> tensor<2x40xf32> {
  %a = fp4.assemble %ad, %as, %ag : tensor<2x160xi8>, tensor<2x20xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<2x320xf4E2M1FN, nvfp4>
  %b = fp4.assemble %bd, %bs, %bg : tensor<40x160xi8>, tensor<40x20xf8E4M3FN>, tensor<f32> -> !fp4.qtensor<40x320xf4E2M1FN, nvfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<2x320xf4E2M1FN, nvfp4>, !fp4.qtensor<40x320xf4E2M1FN, nvfp4> -> tensor<2x40xf32>
  return %y : tensor<2x40xf32>
}

func.func @x16_8x256x8192(%ad: tensor<8x4096xi8>, %as: tensor<8x256xf8E8M0FNU>, %bd: tensor<256x4096xi8>, %bs: tensor<256x256xf8E8M0FNU>) -> tensor<8x256xf32> {
  %a = fp4.assemble %ad, %as : tensor<8x4096xi8>, tensor<8x256xf8E8M0FNU> -> !fp4.qtensor<8x8192xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<256x4096xi8>, tensor<256x256xf8E8M0FNU> -> !fp4.qtensor<256x8192xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<8x8192xf4E2M1FN, mxfp4>, !fp4.qtensor<256x8192xf4E2M1FN, mxfp4> -> tensor<8x256xf32>
  return %y : tensor<8x256xf32>
}

func.func @packed_3x100x128(%ad: tensor<3x64xi8>, %as: tensor<3x4xf8E8M0FNU>, %bd: tensor<100x64xi8>, %bs: tensor<100x4xf8E8M0FNU>) -> tensor<3x100xf32> {
  %a = fp4.assemble %ad, %as : tensor<3x64xi8>, tensor<3x4xf8E8M0FNU> -> !fp4.qtensor<3x128xf4E2M1FN, mxfp4>
  %b = fp4.assemble %bd, %bs : tensor<100x64xi8>, tensor<100x4xf8E8M0FNU> -> !fp4.qtensor<100x128xf4E2M1FN, mxfp4>
  %y = fp4.scaled_matmul %a, %b : !fp4.qtensor<3x128xf4E2M1FN, mxfp4>, !fp4.qtensor<100x128xf4E2M1FN, mxfp4> -> tensor<3x100xf32>
  return %y : tensor<3x100xf32>
}
